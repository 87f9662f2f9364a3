#!/usr/bin/env bash
# Installs the outside validators into a virtual environment (pinned versions) and runs them
# over what Carebill produces. Today: the committed OpenAPI document (openapi-spec-validator).
# The environment lives in ${CAREBILL_VALIDATORS_VENV:-$HOME/.cache/carebill/venv-validators}.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CAREBILL_VALIDATORS_VENV:-$HOME/.cache/carebill/venv-validators}"
if [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0
fi
"$venv/bin/openapi-spec-validator" openapi/carebill.json
