#!/usr/bin/env bash
# Back up the service's database: one consistent snapshot (pg_dump takes it in one transaction while the
# service keeps running), custom format, no owner or grants (deploy/service_role.sql gives them on restore).
#   deploy/backup.sh "$OWNER_DATABASE_URL" /backups/cae-$(date -u +%Y%m%dT%H%M%SZ).dump
#
# No live credential is in it: sign-in sessions (django_session: a session key opens the admin) and the
# sign-in lockout counters (axes_accessattempt*) are left out, their tables restored empty (everyone signs
# in again); API tokens and passwords are stored hashed, webhook secrets encrypted under WEBHOOK_SECRET_KEY.
# The file is written 0600 (readable by its owner only). Keep AUDIT_HMAC_KEY and WEBHOOK_SECRET_KEY with the
# backups (not in them): the restored audit trail verifies only under the one, the secrets decrypt under the other.
set -euo pipefail
url=${1:?usage: backup.sh DATABASE_URL FILE}
file=${2:?usage: backup.sh DATABASE_URL FILE}
umask 077
rm -f "$file"  # a file left by an earlier run keeps its mode: start afresh
pg_dump --format=custom --no-owner --no-privileges \
  --exclude-table-data=django_session \
  --exclude-table-data='axes_accessattempt*' \
  --file="$file" --dbname="$url"
chmod 600 "$file"
pg_restore --list "$file" > /dev/null  # the file is readable as a whole
echo "backed up to $file ($(wc -c < "$file") bytes, mode 0600)"
