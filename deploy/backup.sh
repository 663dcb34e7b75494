#!/usr/bin/env bash
# Back up the service's database: one consistent snapshot (pg_dump takes it in one transaction while the
# service keeps running), custom format, no owner or grants (deploy/service_role.sql gives them on restore).
#   deploy/backup.sh "$OWNER_DATABASE_URL" /backups/cae-$(date -u +%Y%m%dT%H%M%SZ).dump
# Keep AUDIT_HMAC_KEY with the backups (not in them): the restored audit trail verifies only under it.
set -euo pipefail
url=${1:?usage: backup.sh DATABASE_URL FILE}
file=${2:?usage: backup.sh DATABASE_URL FILE}
pg_dump --format=custom --no-owner --no-privileges --file="$file" --dbname="$url"
pg_restore --list "$file" > /dev/null  # the file is readable as a whole
echo "backed up to $file ($(wc -c < "$file") bytes)"
