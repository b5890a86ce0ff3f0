// The part of CloudNativePG's Cluster API (postgresql.cnpg.io/v1) that
// k8s/cnpg uses, written from the operator's API reference so that
// validate.py can type-check cluster.yaml strictly: a field that is not
// declared here is an error, so using a new CNPG field means adding it here
// (with the type the reference gives).
import type { ObjectMeta } from 'kubernetes-types/meta/v1';
import type { ResourceRequirements, Toleration } from 'kubernetes-types/core/v1';

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
  description?: string;
}

export interface PostgresConfiguration {
  parameters?: { [name: string]: string };
  shared_preload_libraries?: string[];
  pg_hba?: string[];
}

export interface BootstrapConfiguration {
  initdb?: BootstrapInitDB;
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
