#!/usr/bin/env bash
# Profiles the embedded suite on the money path: EPISODES (default 2000) × 20 consumptions pushed,
# settled, approved and invoiced by carebill-load against one `carebill serve` (release build,
# fresh data directory), and reports the server's CPU seconds (user and system, from
# /proc/PID/stat). TOOL picks a profiler around the server:
#   TOOL=none      (default) the CPU seconds only;
#   TOOL=perf      `perf record` of the server (flat profile: perf report -i $OUT --no-children
#                  -g none --sort symbol);
#   TOOL=callgrind the server under valgrind's callgrind: instructions, repeatable whatever else
#                  the machine does (use EPISODES=100: it runs about 50 times slower), read with
#                  callgrind_annotate --inclusive=yes $OUT.
# OUT (default /tmp/carebill-profile.<tool>) receives the profile. BULK=1 approves the bulk way.
# CAREBILL_BIN_DIR runs the carebill and carebill-load binaries found there instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
EPISODES=${EPISODES:-2000}
TOOL=${TOOL:-none}
OUT=${OUT:-/tmp/carebill-profile.$TOOL}
if [ -n "${CAREBILL_BIN_DIR:-}" ]; then
  bin=$CAREBILL_BIN_DIR   # binaries built elsewhere (an A/B of two builds, run alternately)
else
  cargo build --release -q -p carebill --bins
  bin="${CARGO_TARGET_DIR:-target}/release"
fi
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
wrap=()
[ "$TOOL" = callgrind ] && wrap=(valgrind --tool=callgrind "--callgrind-out-file=$OUT")
CAREBILL_LOG=warn "${wrap[@]}" "$bin/carebill" serve --data-dir "$work/data" --bind 127.0.0.1:18490 \
  >/dev/null 2>"$work/server.log" &
server=$!
for _ in $(seq 1 900); do curl -sf http://127.0.0.1:18490/health/ready >/dev/null && break; sleep 0.2; done
admin=$("$bin/carebill" token --role admin --data-dir "$work/data" | tail -n 1)
auditor=$("$bin/carebill" token --role auditor --data-dir "$work/data" | tail -n 1)
pid=$server
[ "$TOOL" = perf ] && { perf record -F 299 -g -p "$pid" -o "$OUT" 2>"$work/perf.log" & recorder=$!; }
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(ticks)
"$bin/carebill-load" --money-path --url http://127.0.0.1:18490 --settlement-url http://127.0.0.1:18490 \
  --token "$admin" --auditor-token "$auditor" --episodes "$EPISODES" --per-episode 20 \
  --concurrency "${CONCURRENCY:-8}" --label embedded ${BULK:+--bulk}
after=$(ticks)
echo "server CPU: $(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t / hz}') s (user + system, during the load)"
[ "$TOOL" = perf ] && { kill -INT "$recorder"; wait "$recorder" || true; }
kill "$server"; wait "$server" 2>/dev/null || true
[ "$TOOL" = none ] || echo "profile: $OUT"
