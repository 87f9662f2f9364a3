#!/bin/sh
# Run once by the postgres image on an empty volume: one role and one database per service,
# so that each service can reach only its own data. Passwords come from the environment.
set -eu
for svc in accounts settlement invoicing collections; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v svc="$svc" -v pw="$SERVICES_DB_PASSWORD" <<'SQL'
CREATE ROLE :"svc" LOGIN PASSWORD :'pw';
CREATE DATABASE :"svc" OWNER :"svc";
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
SQL
done
