#!/usr/bin/env bash
# The Python environment of the local stand-ins (scripts/standins/): aiosmtpd, the real SMTP
# server the tests and the collections tutorial send reminders to. Prints the environment's
# python. Lives in ${CAREBILL_TOOLS_VENV:-$HOME/.cache/carebill/venv-tools}; installed from PyPI
# once, then reused.
set -euo pipefail
venv="${CAREBILL_TOOLS_VENV:-$HOME/.cache/carebill/venv-tools}"
requirements="aiosmtpd==1.4.6"
stamp="$venv/.carebill-requirements"
# Tests start in parallel processes: one installs, the others wait for it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" >"$stamp"
fi
echo "$venv/bin/python"
