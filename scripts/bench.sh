#!/usr/bin/env bash
# The consumption-push benchmark, in both run modes, with release builds:
#   1. the embedded suite (SQLite, in-process bus) on a fresh data directory;
#   2. the accounts service alone on PostgreSQL (a fresh database) and RabbitMQ (a fresh vhost).
# Settings: CONSUMPTIONS (default 100000), BATCH (1000), CONCURRENCY (8), EPISODES (100).
# PostgreSQL and RabbitMQ as for the tests (scripts/services.sh); needs psql and rabbitmqctl.
set -euo pipefail
cd "$(dirname "$0")/.."

CONSUMPTIONS=${CONSUMPTIONS:-100000}
BATCH=${BATCH:-1000}
CONCURRENCY=${CONCURRENCY:-8}
EPISODES=${EPISODES:-100}
PG_ADMIN=${CAREBILL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
AMQP_BASE=${CAREBILL_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}

scripts/services.sh >/dev/null
cargo build --release -q -p carebill --bins
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${db:-}" ] && psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${vhost:-}" ] && rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 100); do curl -sf "$1/health/ready" >/dev/null && return 0; sleep 0.2; done
  echo "server at $1 did not become ready" >&2; return 1
}

load() {
  "$bin/carebill-load" --url "$1" --token "$2" --consumptions "$CONSUMPTIONS" --batch "$BATCH" \
    --concurrency "$CONCURRENCY" --episodes "$EPISODES" --label "$3"
}

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; commit $(git rev-parse --short HEAD)"
echo "== embedded suite (SQLite)"
CAREBILL_LOG=warn "$bin/carebill" serve --data-dir "$work/data" --bind 127.0.0.1:18480 >/dev/null 2>"$work/embedded.log" &
pids+=($!)
wait_ready http://127.0.0.1:18480
load http://127.0.0.1:18480 "$("$bin/carebill" token --role admin --data-dir "$work/data" | tail -n 1)" embedded
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

echo "== accounts service (PostgreSQL + RabbitMQ)"
db="carebill_bench_$(date +%s)"
vhost="carebill-bench-$(date +%s)"
psql -q "$PG_ADMIN" -c "CREATE DATABASE $db" >/dev/null
rabbitmqctl -q add_vhost "$vhost" >/dev/null
user=$(echo "$AMQP_BASE" | sed -E 's#amqp://([^:@]+).*#\1#')
rabbitmqctl -q set_permissions -p "$vhost" "$user" '.*' '.*' '.*' >/dev/null
export CAREBILL_DATABASE_URL="${PG_ADMIN%/*}/$db"
export CAREBILL_AMQP_URL="${AMQP_BASE%/*}/$vhost"
export CAREBILL_JWT_SECRET="bench-secret-0123456789abcdef0123456789"
export CAREBILL_DATABASE_POOL_SIZE=${CAREBILL_DATABASE_POOL_SIZE:-16}
CAREBILL_LOG=warn "$bin/carebill" serve --service accounts --bind 127.0.0.1:18481 >/dev/null 2>"$work/distributed.log" &
pids+=($!)
wait_ready http://127.0.0.1:18481
load http://127.0.0.1:18481 "$("$bin/carebill" token --role admin | tail -n 1)" postgresql
