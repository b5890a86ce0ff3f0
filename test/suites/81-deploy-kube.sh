#!/usr/bin/env bash
# deploy-kube: the Kubernetes manifests (k8s/), offline.
#  - every manifest, and every kustomize rendering (base, minikube overlay,
#    CloudNativePG variant), strictly type-checked against the Kubernetes
#    API types (test/deploy/k8s-validate/validate.py); negative tests show
#    that a misspelt field, a wrong type, a missing required field and an
#    unknown kind fail;
#  - what the rendered manifests must say (policy.py): non-root, read-only
#    root, probes, resources, NetworkPolicy, generated secrets, ...;
#  - the database StatefulSet's pod and the shim Deployment really run with
#    `podman kube play`, the shim against that database on loopback:
#    /readyz and the HTTP round trip.
suite=deploy-kube
source "$(dirname "$0")/../deploy/lib.sh"
set -uo pipefail
V=test/deploy/k8s-validate
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "validator: TypeScript + kubernetes-types from npm"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; } >/dev/null 2>&1
fi
if [ ! -x "$V/node_modules/typescript/bin/tsc" ] || [ ! -d "$V/node_modules/kubernetes-types" ]; then
  (cd "$V" && npm install --no-audit --no-fund --silent >/dev/null 2>&1)
fi
if ! [ -x "$V/node_modules/typescript/bin/tsc" ]; then
  not_ok "the validator's npm packages install (cd $V && npm install)"
  finish
fi

# ---- every committed manifest
step "type-check every manifest in k8s/"
if out=$($PY $V/validate.py k8s 2>&1); then
  ok "every manifest in k8s/ type-checks: $(echo "$out" | tail -1)"
else
  not_ok "every manifest in k8s/ type-checks"; echo "$out" | sed 's/^/# /'
fi
if command -v yamllint >/dev/null; then
  check "yamllint: k8s/, docker-compose.yml" yamllint -s -d '{extends: default, rules: {line-length: {max: 130}, document-start: disable, truthy: {check-keys: false}}}' k8s docker-compose.yml
fi
secret_files=$(grep -rlE '^kind: *Secret' k8s || true)
check "no Secret object committed under k8s/ (found: ${secret_files:-none})" test -z "$secret_files"
check "secrets.env files are git-ignored" \
  bash -c 'git check-ignore -q k8s/overlays/minikube/secrets.env && git check-ignore -q k8s/cnpg/secrets.env'

# ---- negative tests: the validator must catch mistakes
step "negative tests"
neg() {  # what, sed expression, file, expected message part
  local what=$1 expr=$2 file=$3 expect=$4
  sed "$expr" "$file" > "$tmp/neg.yaml"
  if cmp -s "$file" "$tmp/neg.yaml"; then not_ok "negative test '$what' changed nothing"; return; fi
  local out; out=$($PY $V/validate.py "$tmp/neg.yaml" 2>&1)
  if [ $? -ne 0 ] && echo "$out" | grep -q -- "$expect"; then
    ok "validator rejects $what"
  else
    not_ok "validator rejects $what"; echo "$out" | sed 's/^/# /'
  fi
}
neg "a misspelt field (containerPortt)" 's/containerPort: 8080/containerPortt: 8080/' k8s/base/shim.yaml "'\"containerPortt\"' does not exist in type 'ContainerPort'"
neg "a misspelt nested field (readinesProbe)" 's/readinessProbe:/readinesProbe:/' k8s/base/shim.yaml "readinesProbe"
neg "a wrong type (replicas: \"two\")" 's/replicas: 2/replicas: "two"/' k8s/base/shim.yaml "not assignable to type 'number'"
neg "a missing required field (container name)" '/^        - name: shim$/d' k8s/base/shim.yaml "does not exist in type 'Container\[\]'"
neg "an unknown apiVersion" 's#^apiVersion: autoscaling/v2#apiVersion: autoscaling/v9#' k8s/base/shim.yaml "no API types for apiVersion='autoscaling/v9'"
neg "a misspelt CloudNativePG field" 's/enablePodAntiAffinity/enablePodAntiAfinity/' k8s/cnpg/cluster.yaml "enablePodAntiAfinity"
neg "a misspelt NetworkPolicy field" 's/policyTypes:/policyType:/' k8s/base/networkpolicy.yaml "policyType"

# ---- kustomize renderings
kustomize_cmd=()
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  kustomize_cmd=(kubectl kustomize)
elif command -v kustomize >/dev/null; then
  kustomize_cmd=(kustomize build)
fi
if [ ${#kustomize_cmd[@]} -eq 0 ]; then
  skip "kustomize rendering: neither kubectl nor kustomize is installed on this machine"
else
  step "render with ${kustomize_cmd[*]}"
  cp -r k8s "$tmp/k8s"
  # secrets.env is made by the documented command, in a scratch copy
  "$tmp/k8s/overlays/minikube/make-secrets.sh" >/dev/null
  cp "$tmp/k8s/overlays/minikube/secrets.env" "$tmp/k8s/cnpg/secrets.env"
  for variant in base overlays/minikube cnpg; do
    name=${variant//\//-}
    if "${kustomize_cmd[@]}" "$tmp/k8s/$variant" > "$tmp/$name.yaml" 2> "$tmp/$name.err"; then
      ok "kustomize renders k8s/$variant ($(grep -c '^kind:' "$tmp/$name.yaml") objects)"
    else
      not_ok "kustomize renders k8s/$variant"; sed 's/^/# /' "$tmp/$name.err"; continue
    fi
    if out=$($PY $V/validate.py "$tmp/$name.yaml" 2>&1); then
      ok "rendered k8s/$variant type-checks"
    else
      not_ok "rendered k8s/$variant type-checks"; echo "$out" | sed 's/^/# /'
    fi
  done
  for variant in overlays/minikube cnpg; do
    name=${variant//\//-}
    [ -s "$tmp/$name.yaml" ] || continue
    flag=""; [ "$variant" = cnpg ] && flag=--cnpg
    while read -r line; do
      case "$line" in
        "ok "*) ok "k8s/$variant: ${line#* - }" ;;
        "not ok "*) not_ok "k8s/$variant: ${line#* - }" ;;
        *) echo "# $line" ;;
      esac
    done < <($PY $V/policy.py "$tmp/$name.yaml" $flag 2>&1)
  done
  rm -f "$tmp/k8s/overlays/minikube/secrets.env"
  check "overlay without secrets.env fails to render (no default secret)" \
    bash -c "! ${kustomize_cmd[*]} '$tmp/k8s/overlays/minikube' >/dev/null 2>&1"
  sed 's/^resources:/resourcess:/' k8s/base/kustomization.yaml > "$tmp/k8s/base/kustomization.yaml"
  check "kustomize rejects a misspelt kustomization field" \
    bash -c "! ${kustomize_cmd[*]} '$tmp/k8s/base' >/dev/null 2>&1"
fi

# ---- podman kube play: the database pod and the shim Deployment
if [ ! -s "$tmp/overlays-minikube.yaml" ]; then
  skip "podman kube play: no rendered overlay (kustomize unavailable)"
  finish
fi
need_containers "podman kube play"
if ! build_image; then
  not_ok "image builds for kube play"; finish
fi
step "podman kube play"
db_port=$(free_port) http_port=$(free_port)
mkdir -p "$tmp/play"
secret=$($PY $V/kube-play.py "$tmp/overlays-minikube.yaml" "$tmp/play" "$IMAGE" "$db_port" "$http_port" "$tag")
dbc=taskmgmt-db-$tag-postgres shimpod=taskmgmt-shim-$tag-pod-0 shimc=taskmgmt-shim-$tag-pod-0-shim
pw=$(jq -r '."db-password"' "$tmp/play/secret-$secret.json" | base64 -d)
no_round_trip() { ! sql_round_trip "$db_port" "$pw" >/dev/null 2>&1; }
play_cleanup() {
  "$P" kube down "$tmp/play/migrate.yaml" >/dev/null 2>&1
  "$P" kube down "$tmp/play/shim.yaml" >/dev/null 2>&1
  "$P" kube down "$tmp/play/db.yaml" >/dev/null 2>&1
  "$P" pod rm -f "taskmgmt-db-$tag" "$shimpod" >/dev/null 2>&1
  "$P" secret rm "$secret" >/dev/null 2>&1
}
trap 'play_cleanup; rm -rf "$tmp"' EXIT
play_cleanup
"$P" secret create "$secret" "$tmp/play/secret-$secret.json" >/dev/null
if out=$("$P" kube play "$tmp/play/db.yaml" 2>&1); then
  ok "kube play: the database StatefulSet's pod starts"
else
  not_ok "kube play: the database StatefulSet's pod starts"; echo "$out" | sed 's/^/# /'
fi
db_ready() { PGPASSWORD=$pw psql -X -At -h 127.0.0.1 -p "$db_port" -U taskmgmt_client_login -d taskmgmt -c 'SELECT 1' | grep -qx 1; }
if wait_until 90 db_ready; then
  ok "kube play: database (read-only root, uid 10001) accepts taskmgmt_client_login on 127.0.0.1:$db_port"
else
  not_ok "kube play: database accepts taskmgmt_client_login on 127.0.0.1:$db_port"
  "$P" logs "$dbc" 2>&1 | tail -20 | sed 's/^/# /'
fi
if out=$("$P" kube play --network host "$tmp/play/shim.yaml" 2>&1); then
  ok "kube play: the shim Deployment starts"
else
  not_ok "kube play: the shim Deployment starts"; echo "$out" | sed 's/^/# /'
fi
base="http://127.0.0.1:$http_port"
if wait_until 60 curl -sf -o /dev/null "$base/readyz"; then
  ok "kube play: shim /readyz over loopback"
else
  not_ok "kube play: shim /readyz over loopback"
  "$P" logs "$shimc" 2>&1 | tail -20 | sed 's/^/# /'
fi
check "kube play: HTTP round trip register → token → create task → get task" http_round_trip "$base"
for ctr in "$shimc" "$dbc"; do
  info=$("$P" inspect "$ctr" --format '{{.Config.User}} ro={{.HostConfig.ReadonlyRootfs}} {{.HostConfig.SecurityOpt}} drop={{len .HostConfig.CapDrop}} add={{len .HostConfig.CapAdd}}' 2>&1)
  echo "# $ctr: $info"
  check "kube play: $ctr runs as 10001 with a read-only root, no-new-privileges, no capabilities" \
    bash -c "[[ '$info' == '10001:10001 ro=true '*no-new-privileges*'add=0' ]] && [[ '$info' != *'drop=0'* ]]"
done
check "kube play: the Secret reached the shim only as an environment variable (not in the image)" \
  bash -c "'$P' exec '$shimc' sh -c 'test -n \"\$DATABASE_PASSWORD\"' && ! '$P' image inspect '$IMAGE' | grep -q -- '$pw'"
step "the migration Job's pod (CREATE EXTENSION / ALTER EXTENSION UPDATE, roles, pg_cron jobs)"
# Undo some of what the database did at its first start, so that only the Job can redo it.
"$P" exec "$dbc" psql -X -q -h /tmp/taskmgmt-pg -U postgres -d taskmgmt \
  -c "SELECT cron.unschedule(jobname) FROM cron.job" -c "REVOKE taskmgmt_client FROM taskmgmt_client_login" >/dev/null 2>&1
check "before the Job: taskmgmt_client_login is no longer a client (the SQL round trip fails)" \
  no_round_trip
migc=taskmgmt-migrate-$tag-migrate
if out=$("$P" kube play --network host "$tmp/play/migrate.yaml" 2>&1); then
  exited() { [ "$("$P" inspect -f '{{.State.Status}}' "$migc" 2>/dev/null)" = exited ]; }
  wait_until 120 exited
  code=$("$P" inspect -f '{{.State.ExitCode}}' "$migc" 2>&1)
  "$P" logs "$migc" 2>&1 | tail -4 | sed 's/^/# /'
  check "kube play: the migration Job's pod runs to completion (exit code $code)" test "$code" = 0
  check "after the Job: the login role works again (SQL round trip)" sql_round_trip "$db_port" "$pw"
  jobs=$("$P" exec "$dbc" psql -X -At -h /tmp/taskmgmt-pg -U postgres -d taskmgmt \
    -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'taskmgmt-%'" 2>&1)
  check "after the Job: the pg_cron jobs are scheduled again ($jobs)" test "$jobs" -ge 4
else
  not_ok "kube play: the migration Job's pod starts"; echo "$out" | sed 's/^/# /'
fi
"$P" kube down "$tmp/play/migrate.yaml" >/dev/null 2>&1
# the StatefulSet's preStop hook, as rendered, stops PostgreSQL cleanly (the
# exec itself ends with the container; the pod's restartPolicy restarts it)
prestop=$($PY -c 'import sys, yaml, shlex
d = yaml.safe_load(open(sys.argv[1]))
print(shlex.join(d["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]))' "$tmp/play/db.yaml")
echo "# preStop: $prestop"
prestop_stops_db() {
  # shellcheck disable=SC2086
  timeout 60 "$P" exec "$dbc" $prestop >/dev/null 2>&1
  sleep 1
  "$P" logs "$dbc" 2>&1 | sed -n '/received fast shutdown request/,$p' | grep -q 'database system is shut down'
}
check "kube play: the database's preStop hook ($prestop) shuts PostgreSQL down cleanly" prestop_stops_db
play_cleanup
left=$("$P" ps -a --filter "name=taskmgmt-shim-$tag" --filter "name=taskmgmt-db-$tag" --filter "name=taskmgmt-migrate-$tag" --format '{{.Names}}')
check "kube down leaves nothing (left: ${left:-none})" test -z "$left"
finish
