-- The role the service runs as: it reads and writes rows but owns no table, so it cannot TRUNCATE the
-- audit trail, drop or disable its triggers, or change the schema. Migrations run as the owner.
--
--   psql "$OWNER_DATABASE_URL" -v app_role=cae_app -v app_password="$APP_DB_PASSWORD" -f deploy/service_role.sql
--   then the service runs with DATABASE_URL=postgres://cae_app:$APP_DB_PASSWORD@host/db
-- (without -v app_password the role is left as it is; set one with psql's \password cae_app).
--
-- Run it as the role that owns the tables (the one `manage.py migrate` uses), after the first migrate
-- and after a restore; it is safe to repeat. Tables later migrations create get the same grants
-- (ALTER DEFAULT PRIVILEGES for the owner running this).
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'app_role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') \gexec
\if :{?app_password}
SELECT format('ALTER ROLE %I PASSWORD %L', :'app_role', :'app_password') \gexec
\endif

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'app_role') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app_role') \gexec

-- Rows: read and write, never TRUNCATE, REFERENCES or TRIGGER (those are not granted).
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', :'app_role') \gexec
SELECT format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', :'app_role') \gexec
-- The audit trail is append-only for the service (the triggers refuse it too); the chain heads move forward only.
SELECT format('REVOKE UPDATE, DELETE ON allocations_auditentry FROM %I', :'app_role') \gexec
SELECT format('REVOKE DELETE ON allocations_auditchainhead FROM %I', :'app_role') \gexec

SELECT format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
              :'app_role') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', :'app_role') \gexec
