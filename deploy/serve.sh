#!/usr/bin/env bash
# The production stack on this machine (`make serve`): granian (deploy/web.py), a Celery worker and beat
# under deploy/supervise.py (each restarted alone when it dies), with the production settings. On the embedded defaults (a SQLite file of its own, var/serve.sqlite3,
# and the file-system broker) unless DATABASE_URL / CELERY_BROKER_URL say otherwise.
#
# Locally only, what production requires is filled in when unset: ALLOWED_HOSTS (loopback), plain
# HTTP (SECURE_SSL_REDIRECT=false), and SECRET_KEY / AUDIT_HMAC_KEY generated once into var/serve.env
# (keep that file: the audit trail written here verifies only under its key).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PATH="$PWD/$(dirname "$PY"):$PATH"
export DJANGO_SETTINGS_MODULE=capital_allocation.settings.production
mkdir -p var

if [ ! -f var/serve.env ]; then
  umask 077
  "$PY" - > var/serve.env <<'PYEOF'
import secrets
print(f"SERVE_SECRET_KEY={secrets.token_urlsafe(50)}")
print(f"SERVE_AUDIT_HMAC_KEY={secrets.token_urlsafe(48)}")
PYEOF
fi
# shellcheck disable=SC1091
. var/serve.env
export SECRET_KEY="${SECRET_KEY:-$SERVE_SECRET_KEY}"
export AUDIT_HMAC_KEY="${AUDIT_HMAC_KEY:-$SERVE_AUDIT_HMAC_KEY}"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-127.0.0.1,localhost}"
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-false}"
export DATABASE_URL="${DATABASE_URL:-sqlite:///$PWD/var/serve.sqlite3}"

# Every process writes its metrics here; /metrics adds them up. Emptied at each start (stale pids).
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

# Migrations need the tables' owner; the processes can then run as the service role (deploy/service_role.sql).
DATABASE_URL="${MIGRATE_DATABASE_URL:-$DATABASE_URL}" "$PY" manage.py migrate --noinput
"$PY" manage.py collectstatic --noinput --verbosity 0
if [ "${SEED_DEMO:-false}" = "true" ]; then "$PY" manage.py seed_demo; fi
# Each process restarted alone when it dies (deploy/supervise.py); TERM or Ctrl-C stops them all.
exec "$PY" deploy/supervise.py deploy/Procfile.serve ${SERVE_PROCESSES:-}
