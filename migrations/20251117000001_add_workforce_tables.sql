-- =============================================================================
-- 20251117000001_add_workforce_tables.sql
-- =============================================================================
-- Fixes seed Bug #1 (Missing Tables): the code referenced the tables
-- workforce_executions and workforce_tasks and the views user_dashboard_stats
-- and user_recent_activity, none of which existed, so all workforce execution
-- tracking failed with database errors.
--
-- Adds:
--   1. public.workforce_executions - one row per AI workforce execution
--   2. public.workforce_tasks      - the tasks of an execution,
--                                    UNIQUE (execution_id, task_id)
--   3. views public.user_dashboard_stats and public.user_recent_activity
--      (security_invoker, so the caller's RLS applies)
--   4. indexes on user_id, status, created_at and (user_id, status)
--   5. RLS: users only see and change their own executions and tasks
--      (SELECT / INSERT / UPDATE / DELETE policies)
-- =============================================================================

-- -----------------------------------------------------------------------------
-- 1. workforce_executions
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.workforce_executions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    input_text       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'planning', 'running', 'paused',
                                       'completed', 'failed', 'cancelled')),
    intent_type      text,
    domain           text,
    complexity       text,
    total_tasks      integer NOT NULL DEFAULT 0 CHECK (total_tasks >= 0),
    completed_tasks  integer NOT NULL DEFAULT 0 CHECK (completed_tasks >= 0),
    failed_tasks     integer NOT NULL DEFAULT 0 CHECK (failed_tasks >= 0),
    estimated_cost   numeric(12,6) NOT NULL DEFAULT 0,
    actual_cost      numeric(12,6) NOT NULL DEFAULT 0,
    estimated_time   integer,          -- seconds
    actual_time      integer,          -- seconds
    error_message    text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- 2. workforce_tasks
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.workforce_tasks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    execution_id    uuid NOT NULL REFERENCES public.workforce_executions (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    task_id         text NOT NULL,
    title           text NOT NULL,
    description     text,
    type            text,
    domain          text,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'queued', 'running', 'completed',
                                      'failed', 'skipped', 'cancelled')),
    assigned_agent  text,
    dependencies    text[] NOT NULL DEFAULT '{}',
    result          jsonb,
    error_message   text,
    retry_count     integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries     integer NOT NULL DEFAULT 3,
    estimated_cost  numeric(12,6) NOT NULL DEFAULT 0,
    actual_cost     numeric(12,6) NOT NULL DEFAULT 0,
    started_at      timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workforce_tasks_execution_task_key UNIQUE (execution_id, task_id)
);

-- keep updated_at current
CREATE OR REPLACE FUNCTION public.workforce_set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = public
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER workforce_executions_set_updated_at
    BEFORE UPDATE ON public.workforce_executions
    FOR EACH ROW EXECUTE FUNCTION public.workforce_set_updated_at();

CREATE OR REPLACE TRIGGER workforce_tasks_set_updated_at
    BEFORE UPDATE ON public.workforce_tasks
    FOR EACH ROW EXECUTE FUNCTION public.workforce_set_updated_at();

-- -----------------------------------------------------------------------------
-- 3. Indexes
-- -----------------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS idx_workforce_executions_user_id
    ON public.workforce_executions (user_id);
CREATE INDEX IF NOT EXISTS idx_workforce_executions_status
    ON public.workforce_executions (status);
CREATE INDEX IF NOT EXISTS idx_workforce_executions_created_at
    ON public.workforce_executions (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_workforce_executions_user_status
    ON public.workforce_executions (user_id, status);

-- (execution_id, task_id) is already covered by the UNIQUE constraint's index.
CREATE INDEX IF NOT EXISTS idx_workforce_tasks_user_id
    ON public.workforce_tasks (user_id);
CREATE INDEX IF NOT EXISTS idx_workforce_tasks_status
    ON public.workforce_tasks (status);
CREATE INDEX IF NOT EXISTS idx_workforce_tasks_created_at
    ON public.workforce_tasks (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_workforce_tasks_user_status
    ON public.workforce_tasks (user_id, status);

-- -----------------------------------------------------------------------------
-- 4. Views
-- -----------------------------------------------------------------------------
-- Aggregated statistics for the dashboard, one row per user.
CREATE OR REPLACE VIEW public.user_dashboard_stats
WITH (security_invoker = true) AS
SELECT
    e.user_id,
    count(*)                                                      AS total_executions,
    count(*) FILTER (WHERE e.status = 'completed')                AS completed_executions,
    count(*) FILTER (WHERE e.status = 'failed')                   AS failed_executions,
    count(*) FILTER (WHERE e.status IN ('pending', 'planning',
                                        'running', 'paused'))     AS active_executions,
    coalesce(sum(e.total_tasks), 0)                               AS total_tasks,
    coalesce(sum(e.completed_tasks), 0)                           AS completed_tasks,
    coalesce(sum(e.failed_tasks), 0)                              AS failed_tasks,
    coalesce(sum(e.actual_cost), 0)                               AS total_cost,
    avg(e.actual_time) FILTER (WHERE e.status = 'completed')      AS avg_execution_time,
    max(e.created_at)                                             AS last_execution_at
FROM public.workforce_executions e
GROUP BY e.user_id;

-- Recent activity feed: the latest 100 execution and task events per user.
CREATE OR REPLACE VIEW public.user_recent_activity
WITH (security_invoker = true) AS
SELECT user_id, activity_type, activity_id, execution_id, title, status, cost, created_at, updated_at
FROM (
    SELECT
        a.*,
        row_number() OVER (PARTITION BY a.user_id ORDER BY a.updated_at DESC, a.activity_id) AS rn
    FROM (
        SELECT
            e.user_id,
            'execution'::text       AS activity_type,
            e.id                    AS activity_id,
            e.id                    AS execution_id,
            left(e.input_text, 200) AS title,
            e.status,
            e.actual_cost           AS cost,
            e.created_at,
            e.updated_at
        FROM public.workforce_executions e
        UNION ALL
        SELECT
            t.user_id,
            'task'::text,
            t.id,
            t.execution_id,
            t.title,
            t.status,
            t.actual_cost,
            t.created_at,
            t.updated_at
        FROM public.workforce_tasks t
    ) a
) ranked
WHERE rn <= 100;

-- -----------------------------------------------------------------------------
-- 5. Row Level Security
-- -----------------------------------------------------------------------------
ALTER TABLE public.workforce_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.workforce_tasks      ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users can view own executions"   ON public.workforce_executions;
DROP POLICY IF EXISTS "Users can create own executions" ON public.workforce_executions;
DROP POLICY IF EXISTS "Users can update own executions" ON public.workforce_executions;
DROP POLICY IF EXISTS "Users can delete own executions" ON public.workforce_executions;

CREATE POLICY "Users can view own executions" ON public.workforce_executions
    FOR SELECT USING (auth.uid() = user_id);
CREATE POLICY "Users can create own executions" ON public.workforce_executions
    FOR INSERT WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users can update own executions" ON public.workforce_executions
    FOR UPDATE USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users can delete own executions" ON public.workforce_executions
    FOR DELETE USING (auth.uid() = user_id);

DROP POLICY IF EXISTS "Users can view own tasks"   ON public.workforce_tasks;
DROP POLICY IF EXISTS "Users can create own tasks" ON public.workforce_tasks;
DROP POLICY IF EXISTS "Users can update own tasks" ON public.workforce_tasks;
DROP POLICY IF EXISTS "Users can delete own tasks" ON public.workforce_tasks;

CREATE POLICY "Users can view own tasks" ON public.workforce_tasks
    FOR SELECT USING (auth.uid() = user_id);
-- a task may only be attached to one of the user's own executions
CREATE POLICY "Users can create own tasks" ON public.workforce_tasks
    FOR INSERT WITH CHECK (
        auth.uid() = user_id
        AND EXISTS (SELECT 1 FROM public.workforce_executions e
                    WHERE e.id = execution_id AND e.user_id = auth.uid())
    );
CREATE POLICY "Users can update own tasks" ON public.workforce_tasks
    FOR UPDATE USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users can delete own tasks" ON public.workforce_tasks
    FOR DELETE USING (auth.uid() = user_id);

-- -----------------------------------------------------------------------------
-- 6. Privileges
-- -----------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE ON public.workforce_executions, public.workforce_tasks
    TO authenticated, service_role;
GRANT SELECT ON public.user_dashboard_stats, public.user_recent_activity
    TO authenticated, service_role;
