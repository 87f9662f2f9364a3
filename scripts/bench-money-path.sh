#!/usr/bin/env bash
# The money-path benchmark: EPISODES (default 10000) × PER_EPISODE (20) consumptions pushed,
# settled, approved (biller and auditor steps) and invoiced, with release builds, in both modes:
#   1. the embedded suite (SQLite files, in-process bus) on a fresh data directory;
#   2. four service processes, each on a fresh PostgreSQL database, events through RabbitMQ
#      (a fresh vhost).
# MODES="embedded distributed" picks the runs; CONCURRENCY (8) requests in flight. BULK=1
# approves the bulk way (clean drafts listed with issues=none, released 500 at a time by
# POST /v1/settlements/transitions) instead of the interactive one (each settlement read and
# stepped three times).
# PG_URL_OPTIONS is appended to each service's database URL (e.g. sslmode=disable); KEEP_DBS=1
# keeps the databases for inspection, KEEP_LOGS=1 the services' logs.
# BENCH=billing-run times billing runs of a care home of RESIDENTS (10000) instead (see
# carebill-load --billing-run). BENCH=documents runs EPISODES_DOCUMENTS (10000) episodes of one
# consumption (an invoice to the payer and one to the patient each), then times the UBL of 200
# payer invoices one at a time and a batch of the payer's 10,000 invoices filled, closed and
# exported (carebill-load --documents).
# PostgreSQL and RabbitMQ as for the tests (scripts/services.sh); needs psql and rabbitmqctl.
set -euo pipefail
cd "$(dirname "$0")/.."

EPISODES=${EPISODES:-10000}
PER_EPISODE=${PER_EPISODE:-20}
CONCURRENCY=${CONCURRENCY:-8}
MODES=${MODES:-"embedded distributed"}
PG_ADMIN=${CAREBILL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
AMQP_BASE=${CAREBILL_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}

scripts/services.sh >/dev/null
cargo build --release -q -p carebill --bins
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
dbs=()
stamp=$(date +%s)
vhost="carebill-bench-mp-$stamp"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Let them drain and stop while their databases still exist, so that none lingers into the
  # next run (a service whose database is gone takes about a minute to give up).
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_DBS:-}" ]; then
    echo "databases kept: ${dbs[*]}" >&2
  else
    for d in "${dbs[@]}"; do psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  fi
  rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  if [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 150); do curl -sf "$1/health/ready" >/dev/null && return 0; sleep 0.2; done
  echo "server at $1 did not become ready" >&2; return 1
}

load() { # accounts-url settlement-url admin-token auditor-token label invoicing-url
  if [ "${BENCH:-money-path}" = billing-run ]; then
    "$bin/carebill-load" --billing-run --url "$1" --settlement-url "$2" --token "$3" \
      --residents "${RESIDENTS:-10000}" --concurrency "$CONCURRENCY" --label "$5"
    return
  fi
  if [ "${BENCH:-money-path}" = documents ]; then
    "$bin/carebill-load" --money-path --documents --url "$1" --settlement-url "$2" \
      --invoicing-url "$6" --token "$3" --auditor-token "$4" --episodes "${EPISODES_DOCUMENTS:-10000}" \
      --per-episode 1 --concurrency "$CONCURRENCY" --label "$5"
    return
  fi
  "$bin/carebill-load" --money-path --url "$1" --settlement-url "$2" --token "$3" --auditor-token "$4" \
    --episodes "$EPISODES" --per-episode "$PER_EPISODE" --concurrency "$CONCURRENCY" --label "$5" \
    ${BULK:+--bulk}
}

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; commit $(git rev-parse --short HEAD)"
for mode in $MODES; do
  case $mode in
  embedded)
    echo "== embedded suite (SQLite, in-process bus)"
    CAREBILL_LOG=warn "$bin/carebill" serve --data-dir "$work/data" --bind 127.0.0.1:18490 >/dev/null 2>"$work/embedded.log" &
    pids+=($!)
    wait_ready http://127.0.0.1:18490
    load http://127.0.0.1:18490 http://127.0.0.1:18490 \
      "$("$bin/carebill" token --role admin --data-dir "$work/data" | tail -n 1)" \
      "$("$bin/carebill" token --role auditor --data-dir "$work/data" | tail -n 1)" embedded \
      http://127.0.0.1:18490
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    ;;
  distributed)
    echo "== four services (PostgreSQL + RabbitMQ)"
    rabbitmqctl -q add_vhost "$vhost" >/dev/null
    user=$(echo "$AMQP_BASE" | sed -E 's#amqp://([^:@]+).*#\1#')
    rabbitmqctl -q set_permissions -p "$vhost" "$user" '.*' '.*' '.*' >/dev/null
    export CAREBILL_AMQP_URL="${AMQP_BASE%/*}/$vhost"
    export CAREBILL_JWT_SECRET="bench-secret-0123456789abcdef0123456789"
    export CAREBILL_DATABASE_POOL_SIZE=${CAREBILL_DATABASE_POOL_SIZE:-16}
    port=18491
    for svc in accounts settlement invoicing collections; do
      db="carebill_bench_${svc}_$stamp"
      dbs+=("$db")
      psql -q "$PG_ADMIN" -c "CREATE DATABASE $db" >/dev/null
      CAREBILL_DATABASE_URL="${PG_ADMIN%/*}/$db${PG_URL_OPTIONS:+?$PG_URL_OPTIONS}" CAREBILL_LOG=warn \
        "$bin/carebill" serve --service "$svc" --bind "127.0.0.1:$port" >/dev/null 2>"$work/$svc.log" &
      pids+=($!)
      wait_ready "http://127.0.0.1:$port"
      port=$((port + 1))
    done
    load http://127.0.0.1:18491 http://127.0.0.1:18492 \
      "$("$bin/carebill" token --role admin | tail -n 1)" \
      "$("$bin/carebill" token --role auditor | tail -n 1)" distributed http://127.0.0.1:18493
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
done
