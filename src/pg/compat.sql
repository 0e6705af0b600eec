-- =============================================================================
-- Supabase compatibility layer for a plain PostgreSQL 15 database
-- =============================================================================
--
-- What this is:
--   loadtest applies this file to every freshly created, plain PostgreSQL 15
--   database BEFORE it applies any migration folder. It recreates the parts of
--   a Supabase database that projects' `supabase/migrations` take for granted:
--
--     * the API roles (anon, authenticated, service_role, authenticator) and
--       the other Supabase-managed roles that migrations GRANT to
--     * the `extensions` schema with pgcrypto and uuid-ossp
--     * the `auth` schema: auth.users plus auth.uid() / auth.role() /
--       auth.email() / auth.jwt(), defined the way Supabase defines them
--       (reading the PostgREST request.jwt.* settings)
--     * the `storage` schema: storage.buckets, storage.objects and the
--       storage.foldername() / filename() / extension() helpers
--     * the `supabase_realtime` publication
--     * Supabase's default privileges on schema public
--
-- Why:
--   Without these objects a typical Supabase migration fails on a vanilla
--   server (REFERENCES auth.users, policies calling auth.uid(), GRANT ... TO
--   authenticated, ALTER PUBLICATION supabase_realtime ...), so it could not
--   be verified outside Supabase.
--
-- Rules this file follows:
--   * Idempotent: running it twice in the same database succeeds and changes
--     nothing. It never drops anything.
--   * Safe to run concurrently in several databases of the same cluster.
--     Roles and role memberships are cluster-wide (shared catalogs), so each
--     one is created only if missing, inside a DO block that swallows
--     duplicate_object and unique_violation (raised when another database's
--     session created the same role or membership at the same moment).
--     Everything else lives inside the current database.
--   * Plain SQL statements separated by semicolons (no psql meta-commands),
--     so it can be sent to the server as one batch.
--   * Runs as a superuser, or as a role with CREATEDB and CREATEROLE (what
--     hosted services give), or with CREATEDB alone once the roles exist.
--     Only a superuser may create a BYPASSRLS role (PostgreSQL 16 and later:
--     also a role that has BYPASSRLS itself), so any other role creates
--     service_role without it; loadtest warns about that and refuses, before
--     this file runs, a role that would have to create roles and may not.
-- =============================================================================


-- -----------------------------------------------------------------------------
-- 1. Roles (cluster-wide)
-- -----------------------------------------------------------------------------
DO $$
DECLARE
    r record;
    may_bypass boolean;
BEGIN
    SELECT rolsuper OR (rolbypassrls AND current_setting('server_version_num')::int >= 160000)
      INTO may_bypass
      FROM pg_catalog.pg_roles WHERE rolname = current_user;
    FOR r IN
        SELECT * FROM (VALUES
            ('anon',                       'NOLOGIN NOINHERIT'),
            ('authenticated',              'NOLOGIN NOINHERIT'),
            ('service_role',               'NOLOGIN NOINHERIT BYPASSRLS'),
            ('authenticator',              'LOGIN NOINHERIT'),
            ('supabase_admin',             'NOLOGIN'),
            ('supabase_auth_admin',        'NOLOGIN NOINHERIT'),
            ('supabase_storage_admin',     'NOLOGIN NOINHERIT'),
            ('supabase_functions_admin',   'NOLOGIN NOINHERIT'),
            ('supabase_replication_admin', 'NOLOGIN'),
            ('supabase_read_only_user',    'NOLOGIN'),
            ('supabase_realtime_admin',    'NOLOGIN NOINHERIT'),
            ('dashboard_user',             'NOLOGIN'),
            ('pgbouncer',                  'NOLOGIN')
        ) AS t(role_name, role_options)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', r.role_name,
                               CASE WHEN may_bypass THEN r.role_options
                                    ELSE replace(r.role_options, ' BYPASSRLS', '') END);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    -- created meanwhile by a session in another database
                    NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- authenticator switches to the API roles (SET ROLE), as PostgREST does.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT pg_catalog.pg_has_role('authenticator', r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO authenticator', r);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    -- granted meanwhile by a session in another database
                    NULL;
            END;
        END IF;
    END LOOP;
END
$$;


-- -----------------------------------------------------------------------------
-- 2. Extensions schema, search_path
-- -----------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS extensions;

CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;

GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;

-- Supabase resolves unqualified extension functions (uuid_generate_v4(),
-- crypt(), gen_salt(), ...) through search_path. A set_config() only lasts
-- for this session, so make it the database default for later sessions too
-- and set it for the rest of this session.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, extensions',
                   current_database());
END
$$;

SET search_path = "$user", public, extensions;


-- -----------------------------------------------------------------------------
-- 3. Schema auth
-- -----------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.users (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_id         uuid,
    aud                 varchar(255),
    role                varchar(255),
    email               varchar(255),
    encrypted_password  varchar(255),
    email_confirmed_at  timestamptz,
    last_sign_in_at     timestamptz,
    raw_app_meta_data   jsonb,
    raw_user_meta_data  jsonb,
    is_super_admin      boolean,
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz DEFAULT now(),
    phone               text,
    confirmed_at        timestamptz,
    is_anonymous        boolean NOT NULL DEFAULT false,
    deleted_at          timestamptz
);

-- Same definitions as Supabase's auth schema: the legacy per-claim settings
-- (request.jwt.claim.*) first, then the request.jwt.claims JSON document that
-- current PostgREST versions set.
CREATE OR REPLACE FUNCTION auth.uid()
RETURNS uuid
LANGUAGE sql STABLE
AS $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role()
RETURNS text
LANGUAGE sql STABLE
AS $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.email()
RETURNS text
LANGUAGE sql STABLE
AS $$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.jwt()
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
  select
    coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.email(), auth.jwt()
    TO anon, authenticated, service_role;
GRANT ALL ON SCHEMA auth TO supabase_auth_admin, dashboard_user;
GRANT ALL ON auth.users TO supabase_auth_admin, dashboard_user;


-- -----------------------------------------------------------------------------
-- 4. Schema storage
-- -----------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS storage;

CREATE TABLE IF NOT EXISTS storage.buckets (
    id                  text PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    owner               uuid,
    public              boolean DEFAULT false,
    file_size_limit     bigint,
    allowed_mime_types  text[],
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS storage.objects (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bucket_id           text REFERENCES storage.buckets (id),
    name                text,
    owner               uuid,
    metadata            jsonb,
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz DEFAULT now(),
    last_accessed_at    timestamptz DEFAULT now(),
    path_tokens         text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
    version             text
);

CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects (bucket_id, name);

ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;

-- Helpers as Supabase Storage defines them.
CREATE OR REPLACE FUNCTION storage.foldername(name text)
RETURNS text[]
LANGUAGE plpgsql
AS $$
DECLARE
    _parts text[];
BEGIN
    select string_to_array(name, '/') into _parts;
    return _parts[1:array_length(_parts, 1) - 1];
END
$$;

CREATE OR REPLACE FUNCTION storage.filename(name text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    _parts text[];
BEGIN
    select string_to_array(name, '/') into _parts;
    return _parts[array_length(_parts, 1)];
END
$$;

CREATE OR REPLACE FUNCTION storage.extension(name text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    _parts text[];
    _filename text;
BEGIN
    select string_to_array(name, '/') into _parts;
    select _parts[array_length(_parts, 1)] into _filename;
    return reverse(split_part(reverse(_filename), '.', 1));
END
$$;

GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION storage.foldername(text), storage.filename(text), storage.extension(text)
    TO anon, authenticated, service_role;
GRANT ALL ON SCHEMA storage TO supabase_storage_admin, dashboard_user;
GRANT ALL ON storage.buckets, storage.objects TO supabase_storage_admin, dashboard_user;


-- -----------------------------------------------------------------------------
-- 5. Realtime publication (PostgreSQL 15 has no CREATE PUBLICATION IF NOT EXISTS)
-- -----------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'supabase_realtime') THEN
        CREATE PUBLICATION supabase_realtime;
    END IF;
END
$$;


-- -----------------------------------------------------------------------------
-- 6. Supabase's default privileges on schema public
-- -----------------------------------------------------------------------------
-- Tables, views, functions and sequences that later migrations create in
-- public are usable by the API roles unless a migration revokes them.
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES    TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
