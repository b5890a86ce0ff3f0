#!/usr/bin/python3
"""What the rendered taskmgmt manifests must say, beyond being well-typed.

    policy.py RENDERED.yaml [--cnpg]

Prints TAP-style "ok"/"not ok" lines and exits 1 if any check failed.
"""
import sys

import yaml

results = []


def check(name, cond, detail=""):
    results.append((bool(cond), name + (f" ({detail})" if detail and not cond else "")))


def main(path, cnpg):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by = {}
    for d in docs:
        by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def pod_spec(d):
        return d["spec"]["jobTemplate"]["spec"]["template"]["spec"] if d["kind"] == "CronJob" \
            else d["spec"]["template"]["spec"]

    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    check("namespace taskmgmt for every namespaced object",
          all(d["metadata"].get("namespace") == "taskmgmt" for d in docs if d["kind"] != "Namespace"))

    # Every container: non-root, read-only root, no privilege escalation, caps dropped, resources.
    for d in workloads:
        spec = pod_spec(d)
        psc = spec.get("securityContext", {})
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            who = f"{d['kind']}/{d['metadata']['name']}/{c['name']}"
            check(f"{who}: runs as non-root",
                  psc.get("runAsNonRoot") is True and (sc.get("runAsUser") or psc.get("runAsUser", 0)) > 0)
            check(f"{who}: readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities dropped",
                  sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                  and sc.get("capabilities", {}).get("drop") == ["ALL"])
            res = c.get("resources", {})
            check(f"{who}: resource requests and limits (cpu, memory)",
                  all(k in res.get(t, {}) for t in ("requests", "limits") for k in ("cpu", "memory")))
        check(f"{d['kind']}/{d['metadata']['name']}: no service account token mounted",
              spec.get("automountServiceAccountToken") is False)

    shim = by.get("Deployment", {}).get("taskmgmt-shim")
    check("shim Deployment exists", shim)
    if shim:
        c = shim["spec"]["template"]["spec"]["containers"][0]
        check("shim: 2 replicas", shim["spec"]["replicas"] == 2)
        check("shim: readiness probe GET /readyz", c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz")
        check("shim: liveness probe GET /healthz", c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz")
        labels = shim["spec"]["template"]["metadata"]["labels"]

        def selects(sel):
            return sel and all(labels.get(k) == v for k, v in sel.get("matchLabels", {}).items())

        svc = by.get("Service", {}).get("taskmgmt-shim")
        check("shim Service selects the shim pods", svc and selects({"matchLabels": svc["spec"]["selector"]}))
        pdb = by.get("PodDisruptionBudget", {}).get("taskmgmt-shim")
        check("PodDisruptionBudget selects the shim pods", pdb and selects(pdb["spec"]["selector"]))
        hpa = by.get("HorizontalPodAutoscaler", {}).get("taskmgmt-shim")
        check("HPA scales the shim Deployment from 2",
              hpa and hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "taskmgmt-shim"}
              and hpa["spec"]["minReplicas"] >= 2)
        ing = by.get("Ingress", {}).get("taskmgmt")
        backends = [p["backend"]["service"] for r in (ing or {}).get("spec", {}).get("rules", [])
                    for p in r["http"]["paths"]]
        check("Ingress routes to the shim Service's named port",
              ing and backends and all(b["name"] == "taskmgmt-shim" and
                                       b["port"].get("name") in [p.get("name") for p in svc["spec"]["ports"]]
                                       for b in backends))
        ann = (ing or {}).get("metadata", {}).get("annotations", {})
        check("Ingress keeps websockets open (read/send timeouts >= 1h)",
              int(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "0")) >= 3600
              and int(ann.get("nginx.ingress.kubernetes.io/proxy-send-timeout", "0")) >= 3600)

    # Secrets: every reference resolves to a Secret in the rendering (or to
    # one an operator makes), and those Secrets come from a generator.
    secrets = set(by.get("Secret", {}))
    external = {"taskmgmt-db-superuser"} if cnpg else set()
    refs = set()
    for d in workloads:
        for c in pod_spec(d)["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.add(ref["name"])
    check("every secretKeyRef names a generated Secret", refs and refs <= secrets | external,
          f"refs {sorted(refs)}, secrets {sorted(secrets)}")
    check("Secrets are generated (content-hash suffix)", secrets and all(
        s.rsplit("-", 1)[-1].isalnum() and len(s.rsplit("-", 1)[-1]) == 10 for s in secrets))

    # The database is reachable only from the shim, the mailer and the migration Job.
    pols = list(by.get("NetworkPolicy", {}).values())
    check("a default-deny ingress policy covers every pod",
          any(p["spec"]["podSelector"] == {} and p["spec"].get("ingress") is None for p in pols))
    db_sel = {"cnpg.io/cluster": "taskmgmt-db"} if cnpg else \
        {"app.kubernetes.io/name": "taskmgmt", "app.kubernetes.io/component": "db"}
    db_pols = [p for p in pols if p["spec"]["podSelector"].get("matchLabels") == db_sel]
    check("a NetworkPolicy guards the database pods", len(db_pols) == 1)
    if db_pols:
        allowed = set()
        ok = True
        for rule in db_pols[0]["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            for peer in rule.get("from", []):
                sel = peer.get("podSelector")
                if sel is None:
                    # the operator's namespace, on its status port only
                    ok = ok and cnpg and ports == [8000]
                    continue
                if sel.get("matchLabels") == db_sel:
                    continue  # replicas replicating from each other
                for ex in sel.get("matchExpressions", []):
                    if ex["key"] == "app.kubernetes.io/component" and ex["operator"] == "In":
                        allowed |= set(ex["values"])
                comp = sel.get("matchLabels", {}).get("app.kubernetes.io/component")
                if comp:
                    allowed.add(comp)
                if not sel.get("matchExpressions") and not comp:
                    ok = False  # a peer not narrowed to a component
            if not rule.get("from"):
                ok = False      # from everywhere
        check("only shim, mailer and the migration Job may reach the database",
              ok and allowed == {"shim", "mailer", "migrate"}, f"allowed {sorted(allowed)}")

    job = by.get("Job", {}).get("taskmgmt-migrate")
    check("migration Job runs `migrate` (CREATE EXTENSION / ALTER EXTENSION UPDATE)",
          job and job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"])
    if cnpg:
        cl = by.get("Cluster", {}).get("taskmgmt-db")
        check("CNPG Cluster: 3 instances with pg_cron preloaded",
              cl and cl["spec"]["instances"] >= 3 and "pg_cron" in cl["spec"]["postgresql"]["shared_preload_libraries"])
        check("CNPG: no StatefulSet database left", "StatefulSet" not in by)
        conf = by["ConfigMap"][[k for k in by["ConfigMap"]][0]]["data"]
        check("CNPG: the shim and the mailer use the read-write service, read-write sessions only",
              all("host=taskmgmt-db-rw" in conf[k] and "target_session_attrs=read-write" in conf[k]
                  for k in ("DATABASE_URL", "MAILER_DATABASE_URL")))
        spec = (cl or {}).get("spec", {})
        check("CNPG: one synchronous replica (an acknowledged commit survives a failover)",
              spec.get("minSyncReplicas", 0) >= 1 and spec.get("maxSyncReplicas", 0) >= 1)
        check("CNPG: PodDisruptionBudgets for the instances, new images by switchover",
              spec.get("enablePDB") is True and spec.get("primaryUpdateMethod") == "switchover")
        store = spec.get("backup", {}).get("barmanObjectStore", {})
        sched = [s for s in by.get("ScheduledBackup", {}).values()
                 if s["spec"]["cluster"]["name"] == "taskmgmt-db"]
        check("CNPG: base backups and WAL to object storage, a scheduled base backup",
              store.get("destinationPath") and spec["backup"].get("retentionPolicy") and sched)
    else:
        sts = by.get("StatefulSet", {}).get("taskmgmt-db")
        check("database StatefulSet with a volume claim",
              sts and sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data")

    failed = 0
    for n, (good, name) in enumerate(results, 1):
        print(("ok" if good else "not ok"), n, "-", name)
        failed += not good
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], "--cnpg" in sys.argv[2:]))
