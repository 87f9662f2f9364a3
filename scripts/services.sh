#!/usr/bin/env bash
# Makes sure the PostgreSQL and RabbitMQ servers the tests use are reachable.
#
# Tests use CAREBILL_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable,
# on which they create and drop throwaway databases) and CAREBILL_TEST_AMQP_URL (default
# amqp://guest:guest@127.0.0.1:5672/%2f; e2e tests also create throwaway virtual hosts with
# rabbitmqctl). When the defaults are used and nothing answers, this script starts the local
# Debian servers; when it cannot, it fails with a clear message: tests never skip.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if [ -z "${CAREBILL_TEST_DATABASE_URL:-}" ]; then
  if ! port_open 127.0.0.1 5432; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432: starting the local cluster"
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    for _ in $(seq 1 30); do port_open 127.0.0.1 5432 && break; sleep 1; done
  fi
  port_open 127.0.0.1 5432 || { echo "error: PostgreSQL is required on 127.0.0.1:5432 (or set CAREBILL_TEST_DATABASE_URL)" >&2; exit 1; }
fi

if [ -z "${CAREBILL_TEST_AMQP_URL:-}" ]; then
  if ! port_open 127.0.0.1 5672; then
    echo "RabbitMQ is not answering on 127.0.0.1:5672: starting it"
    if command -v rabbitmq-server >/dev/null; then
      rabbitmq-server -detached || true
      rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
    fi
    for _ in $(seq 1 60); do port_open 127.0.0.1 5672 && break; sleep 1; done
  fi
  port_open 127.0.0.1 5672 || { echo "error: RabbitMQ is required on 127.0.0.1:5672 (or set CAREBILL_TEST_AMQP_URL)" >&2; exit 1; }
fi
echo "PostgreSQL and RabbitMQ are reachable"
