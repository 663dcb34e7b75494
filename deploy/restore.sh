#!/usr/bin/env bash
# Restore a backup into an EMPTY database (create it first, owned by the migrating role), grant the
# service role its rights, and check the audit trail with the service's AUDIT_HMAC_KEY.
# The key is checked first, on the backup's signed chain heads: under a wrong key nothing is restored.
#   createdb --owner=cae_owner cae_restored
#   AUDIT_HMAC_KEY=... deploy/restore.sh "postgres://cae_owner@db/cae_restored" /backups/cae-....dump cae_app
set -euo pipefail
url=${1:?usage: restore.sh DATABASE_URL FILE APP_ROLE}
file=$(realpath "${2:?usage: restore.sh DATABASE_URL FILE APP_ROLE}")  # before the cd below
role=${3:?usage: restore.sh DATABASE_URL FILE APP_ROLE}
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATABASE_URL="$url" "$PY" manage.py verify_audit --backup "$file"   # before anything is written
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$file"
psql --quiet --dbname="$url" -v app_role="$role" -f deploy/service_role.sql
DATABASE_URL="$url" "$PY" manage.py migrate --noinput   # a backup from an older release is brought up to this one
DATABASE_URL="$url" "$PY" manage.py verify_audit
