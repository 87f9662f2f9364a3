#!/usr/bin/env bash
# Makes sure the PostgreSQL and RabbitMQ servers the tests use are reachable.
#
# Tests use CAREBILL_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable,
# on which they create and drop throwaway databases) and CAREBILL_TEST_AMQP_URL (default
# amqp://guest:guest@127.0.0.1:5672/%2f; e2e tests also create throwaway virtual hosts with
# rabbitmqctl). When the defaults are used and nothing answers, this script starts the local
# Debian servers; when it cannot, it fails with a clear message and what the server logged:
# tests never skip.
set -euo pipefail

# Debian keeps the servers' commands in sbin, which a CI runner's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() { # host port seconds
  for _ in $(seq 1 "$3"); do port_open "$1" "$2" && return 0; sleep 1; done
  port_open "$1" "$2"
}
# Runs a command as root: directly, or through sudo when it asks for no password.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi
}

if [ -z "${CAREBILL_TEST_DATABASE_URL:-}" ] && ! port_open 127.0.0.1 5432; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432: starting the local cluster"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  if ! wait_port 127.0.0.1 5432 60 && command -v service >/dev/null; then
    as_root service postgresql start || true
    wait_port 127.0.0.1 5432 60 || true
  fi
  if ! port_open 127.0.0.1 5432; then
    echo "error: PostgreSQL is required on 127.0.0.1:5432 (or set CAREBILL_TEST_DATABASE_URL)" >&2
    tail -n 30 /var/log/postgresql/*.log 2>/dev/null >&2 || true
    exit 1
  fi
fi

if [ -z "${CAREBILL_TEST_AMQP_URL:-}" ] && ! port_open 127.0.0.1 5672; then
  echo "RabbitMQ is not answering on 127.0.0.1:5672: starting it"
  if command -v rabbitmqctl >/dev/null && as_root timeout 30 rabbitmqctl ping >/dev/null 2>&1; then
    # The node runs but its application is stopped (`rabbitmqctl stop_app`, as the broker-restart
    # test does, left so by an interrupted run).
    echo "the node is up with its application stopped: rabbitmqctl start_app"
    as_root timeout 120 rabbitmqctl start_app || true
  elif command -v rabbitmq-server >/dev/null; then
    # -detached returns before the node is up; the port is what tells.
    as_root rabbitmq-server -detached || true
  else
    echo "rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server)" >&2
  fi
  # A node killed without stopping (a machine restored from a snapshot) can leave epmd and a
  # half-started beam behind; when the first start does not answer, start it again cleanly.
  if ! wait_port 127.0.0.1 5672 90 && command -v rabbitmq-server >/dev/null; then
    echo "RabbitMQ did not answer in 90 s: stopping what is left of it and starting it again"
    as_root timeout 60 rabbitmqctl stop >/dev/null 2>&1 || true
    as_root pkill -u rabbitmq -x beam.smp 2>/dev/null || true
    as_root pkill -u rabbitmq -x epmd 2>/dev/null || true
    sleep 2
    if command -v service >/dev/null; then
      as_root service rabbitmq-server start || as_root rabbitmq-server -detached || true
    else
      as_root rabbitmq-server -detached || true
    fi
    wait_port 127.0.0.1 5672 120 || true
  fi
  if ! port_open 127.0.0.1 5672; then
    echo "error: RabbitMQ is required on 127.0.0.1:5672 (or set CAREBILL_TEST_AMQP_URL)" >&2
    echo "--- what the node logged last:" >&2
    tail -n 40 /var/log/rabbitmq/*.log /var/log/rabbitmq/startup_err 2>/dev/null >&2 || true
    exit 1
  fi
fi
echo "PostgreSQL and RabbitMQ are reachable"
