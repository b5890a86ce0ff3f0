#!/usr/bin/python3
"""Turns the rendered minikube overlay into inputs for `podman kube play`.

    kube-play.py RENDERED.yaml OUTDIR IMAGE DB_PORT HTTP_PORT TAG

podman (4.3) runs Pods and Deployments but not StatefulSets, publishes no
ports on a host-network pod, and reads secretKeyRef from podman secrets
holding {"key": base64} JSON.  So, changing no more than that:
  OUTDIR/db.yaml      the database StatefulSet's pod template as a Pod, its
                      volume claim replaced by an emptyDir, port 5432
                      published on 127.0.0.1:DB_PORT;
  OUTDIR/shim.yaml    the shim Deployment as rendered (probes, security
                      context, env from the ConfigMap and Secret), on the
                      host network: DATABASE_URL points at 127.0.0.1:DB_PORT
                      and PORT/probes at HTTP_PORT;
  OUTDIR/migrate.yaml the migration Job's pod template as a Pod on the host
                      network, DATABASE_URL pointing at 127.0.0.1:DB_PORT;
  OUTDIR/config.yaml  the ConfigMap;
  OUTDIR/secret-NAME.json  the Secret as podman wants it.
The pod and Deployment names get "-TAG" appended (concurrent test runs).
Everything else (image name aside) is left as the manifests say.
"""
import copy
import json
import pathlib
import sys

import yaml


def main(rendered, outdir, image, db_port, http_port, tag):
    out = pathlib.Path(outdir)
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")
    (out / f"secret-{secret['metadata']['name']}.json").write_text(json.dumps(secret["data"]))

    sts = by[("StatefulSet", "taskmgmt-db")]
    tpl = copy.deepcopy(sts["spec"]["template"])
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"taskmgmt-db-{tag}", "labels": tpl["metadata"]["labels"]},
           "spec": tpl["spec"]}
    c = pod["spec"]["containers"][0]
    c["image"] = image
    c.pop("imagePullPolicy", None)
    c["ports"] = [{"name": "postgres", "containerPort": 5432, "hostPort": int(db_port), "hostIP": "127.0.0.1"}]
    pod["spec"]["volumes"].append({"name": "data", "emptyDir": {}})

    cm = copy.deepcopy(cm)
    cm["data"]["DATABASE_URL"] = f"host=127.0.0.1 port={db_port} dbname=taskmgmt user=taskmgmt_client_login"

    shim = copy.deepcopy(by[("Deployment", "taskmgmt-shim")])
    shim["metadata"]["name"] = f"taskmgmt-shim-{tag}"
    sc = shim["spec"]["template"]["spec"]["containers"][0]
    sc["image"] = image
    sc.pop("imagePullPolicy", None)
    sc.pop("ports", None)
    for e in sc["env"]:
        if e["name"] == "PORT":
            e["value"] = str(http_port)
    for probe in ("readinessProbe", "livenessProbe"):
        sc[probe]["httpGet"]["port"] = int(http_port)
    shim["spec"]["template"]["spec"]["hostNetwork"] = True

    job = by[("Job", "taskmgmt-migrate")]
    mtpl = copy.deepcopy(job["spec"]["template"])
    mpod = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"taskmgmt-migrate-{tag}", "labels": mtpl["metadata"]["labels"]},
            "spec": mtpl["spec"]}
    mpod["spec"]["hostNetwork"] = True
    mc = mpod["spec"]["containers"][0]
    mc["image"] = image
    mc.pop("imagePullPolicy", None)
    for e in mc["env"]:
        if e["name"] == "DATABASE_URL":
            e["value"] = e["value"].replace("host=taskmgmt-db port=5432", f"host=127.0.0.1 port={db_port}")

    (out / "migrate.yaml").write_text(yaml.safe_dump(mpod))
    (out / "db.yaml").write_text(yaml.safe_dump(pod))
    (out / "config.yaml").write_text(yaml.safe_dump(cm))
    (out / "shim.yaml").write_text(yaml.safe_dump_all([cm, shim]))
    print(secret["metadata"]["name"])


if __name__ == "__main__":
    main(*sys.argv[1:7])
