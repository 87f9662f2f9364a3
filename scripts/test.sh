#!/usr/bin/env bash
# The test command: every test of the workspace against real PostgreSQL, SQLite and RabbitMQ,
# then the outside validators. See docs/development/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian keeps rabbitmqctl (which the tests call) in sbin, which a CI runner's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

scripts/services.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  # Tests that restart the shared local broker, and the release build as the Dockerfile does
  # it, run alone, one at a time, after everything else.
  # (--workspace, not -p carebill: the same feature set as above, so nothing is compiled again.)
  cargo nextest run --workspace --run-ignored only --no-fail-fast --test-threads 1 -E 'binary(e2e)'
else
  cargo test --workspace --no-fail-fast
  cargo test -p carebill --test e2e -- --ignored --test-threads 1
fi
scripts/validators.sh
