// The part of CloudNativePG's Cluster API (postgresql.cnpg.io/v1) that
// k8s/cnpg uses, written from the operator's API reference so that
// validate.py can type-check cluster.yaml strictly: a field that is not
// declared here is an error, so using a new CNPG field means adding it here
// (with the type the reference gives).
import type { ObjectMeta } from 'kubernetes-types/meta/v1';
import type { ResourceRequirements, Toleration, SecretKeySelector } from 'kubernetes-types/core/v1';

export interface Cluster {
  apiVersion: 'postgresql.cnpg.io/v1';
  kind: 'Cluster';
  metadata: ObjectMeta;
  spec: ClusterSpec;
}

export interface ClusterSpec {
  instances: number;
  imageName?: string;
  imagePullPolicy?: 'Always' | 'Never' | 'IfNotPresent';
  primaryUpdateStrategy?: 'unsupervised' | 'supervised';
  primaryUpdateMethod?: 'switchover' | 'restart';
  enablePDB?: boolean;
  failoverDelay?: number;
  switchoverDelay?: number;
  enableSuperuserAccess?: boolean;
  superuserSecret?: { name: string };
  minSyncReplicas?: number;
  maxSyncReplicas?: number;
  postgresql?: PostgresConfiguration;
  bootstrap?: BootstrapConfiguration;
  storage?: StorageConfiguration;
  walStorage?: StorageConfiguration;
  resources?: ResourceRequirements;
  affinity?: AffinityConfiguration;
  monitoring?: MonitoringConfiguration;
  backup?: BackupConfiguration;
  externalClusters?: ExternalCluster[];
  description?: string;
}

export interface BackupConfiguration {
  barmanObjectStore?: BarmanObjectStoreConfiguration;
  retentionPolicy?: string;
  target?: 'primary' | 'prefer-standby';
}

export interface BarmanObjectStoreConfiguration {
  destinationPath: string;
  endpointURL?: string;
  serverName?: string;
  s3Credentials?: {
    accessKeyId?: SecretKeySelector;
    secretAccessKey?: SecretKeySelector;
    region?: SecretKeySelector;
    sessionToken?: SecretKeySelector;
    inheritFromIAMRole?: boolean;
  };
  wal?: { compression?: 'gzip' | 'bzip2' | 'snappy'; maxParallel?: number };
  data?: { compression?: 'gzip' | 'bzip2' | 'snappy'; jobs?: number };
}

export interface ExternalCluster {
  name: string;
  connectionParameters?: { [name: string]: string };
  barmanObjectStore?: BarmanObjectStoreConfiguration;
}

export interface ScheduledBackup {
  apiVersion: 'postgresql.cnpg.io/v1';
  kind: 'ScheduledBackup';
  metadata: ObjectMeta;
  spec: {
    schedule: string;
    cluster: { name: string };
    backupOwnerReference?: 'none' | 'self' | 'cluster';
    immediate?: boolean;
    suspend?: boolean;
    method?: 'barmanObjectStore' | 'volumeSnapshot';
    target?: 'primary' | 'prefer-standby';
  };
}

export interface PostgresConfiguration {
  parameters?: { [name: string]: string };
  shared_preload_libraries?: string[];
  pg_hba?: string[];
}

export interface BootstrapConfiguration {
  initdb?: BootstrapInitDB;
  recovery?: BootstrapRecovery;
}

export interface BootstrapRecovery {
  source?: string;
  backup?: { name: string };
  database?: string;
  owner?: string;
  recoveryTarget?: {
    targetTime?: string;
    targetLSN?: string;
    targetName?: string;
    targetImmediate?: boolean;
    exclusive?: boolean;
  };
}

export interface BootstrapInitDB {
  database?: string;
  owner?: string;
  secret?: { name: string };
  encoding?: string;
  localeCollate?: string;
  localeCType?: string;
  dataChecksums?: boolean;
  postInitSQL?: string[];
  postInitApplicationSQL?: string[];
  postInitTemplateSQL?: string[];
}

export interface StorageConfiguration {
  size?: string;
  storageClass?: string;
  resizeInUseVolumes?: boolean;
}

export interface AffinityConfiguration {
  enablePodAntiAffinity?: boolean;
  topologyKey?: string;
  podAntiAffinityType?: 'preferred' | 'required';
  nodeSelector?: { [key: string]: string };
  tolerations?: Toleration[];
}

export interface MonitoringConfiguration {
  enablePodMonitor?: boolean;
}
