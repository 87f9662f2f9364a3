#!/usr/bin/env bash
# Installs the outside validators into a virtual environment (pinned versions) and runs them
# over what Carebill produces:
#   - openapi-spec-validator over the committed OpenAPI document;
#   - schemathesis against a live embedded suite: no 5xx for any generated input, every status
#     and content type documented, responses matching their schemas, 405 with Allow for
#     undeclared methods, schema-violating input rejected. (`positive_data_acceptance` is left
#     out: a schema-valid consumption for an episode that does not exist is rightly refused.
#     `filter_too_much` is a health check of the generator, not of the API: with many
#     operations, hypothesis sometimes discards too many candidate path ids for one of them.)
# The environment lives in ${CAREBILL_VALIDATORS_VENV:-$HOME/.cache/carebill/venv-validators}.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CAREBILL_VALIDATORS_VENV:-$HOME/.cache/carebill/venv-validators}"
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0 schemathesis==4.32.5
fi
"$venv/bin/openapi-spec-validator" openapi/carebill.json

cargo build -q -p carebill --bin carebill
bin="${CARGO_TARGET_DIR:-target}/debug/carebill"
work=$(mktemp -d)
port=${CAREBILL_SCHEMATHESIS_PORT:-18479}
CAREBILL_LOG=warn "$bin" serve --data-dir "$work/data" --bind "127.0.0.1:$port" >/dev/null 2>"$work/suite.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.2; done
token=$("$bin" token --role admin --data-dir "$work/data" | tail -n 1)
(cd "$work" && "$venv/bin/schemathesis" run "$OLDPWD/openapi/carebill.json" \
  --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance \
  --suppress-health-check=filter_too_much \
  --max-examples "${CAREBILL_SCHEMATHESIS_EXAMPLES:-30}" --workers 1 --seed 1 --no-color)
