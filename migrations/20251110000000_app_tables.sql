-- =============================================================================
-- 20251110000000_app_tables.sql
-- =============================================================================
-- The application's pre-existing tables that the November 17, 2025 fixes
-- (seed 000_416050d0de47e6a9, Bugs #1-#4) touch:
--
--   * user_subscriptions          - updated by increment_token_usage()      (Bug #2)
--   * purchased_employees,
--     conversations,
--     conversation_participants   - updated by increment_participant_stats() (Bug #3)
--   * automation_*, user_credits,
--     credit_transactions,
--     support_*, blog_*,
--     vibe_sessions,
--     token_transactions          - indexed by 20251117000004               (Bug #4)
--
-- This is the state BEFORE the fixes: the tables have primary keys, UNIQUE
-- constraints and foreign keys, but deliberately NONE of the indexes that
-- 20251117000004_add_missing_foreign_key_indexes.sql adds (no index leads with
-- automation_nodes.workflow_id, automation_connections.workflow_id,
-- credit_transactions.user_credit_id, support_ticket_messages.ticket_id,
-- blog_comments.post_id / parent_id, vibe_sessions.updated_at / user_id,
-- support_tickets.user_id, token_transactions.created_at / transaction_type /
-- user_id). PostgreSQL does not index foreign key columns by itself, which is
-- exactly Bug #4.
--
-- Requires the Supabase compatibility layer (auth.users, auth.uid(), roles).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Subscriptions (token quota)
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.user_subscriptions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL UNIQUE REFERENCES auth.users (id) ON DELETE CASCADE,
    plan          text NOT NULL DEFAULT 'free',
    status        text NOT NULL DEFAULT 'active',
    total_tokens  bigint NOT NULL DEFAULT 0,
    used_tokens   integer NOT NULL DEFAULT 0,
    period_start  timestamptz,
    period_end    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- AI employees and multi-agent chat
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.purchased_employees (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    employee_id   text NOT NULL,
    name          text NOT NULL,
    role          text,
    provider      text,
    is_active     boolean NOT NULL DEFAULT true,
    purchased_at  timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.conversations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    title         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.conversation_participants (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id   uuid NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    employee_id       uuid REFERENCES public.purchased_employees (id) ON DELETE SET NULL,
    participant_type  text NOT NULL DEFAULT 'agent',
    message_count     integer NOT NULL DEFAULT 0,
    tokens_used       integer NOT NULL DEFAULT 0,
    cost_incurred     numeric(12,6) NOT NULL DEFAULT 0,
    tasks_completed   integer NOT NULL DEFAULT 0,
    last_active_at    timestamptz,
    joined_at         timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- Automation workflows
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.automation_workflows (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text,
    is_active     boolean NOT NULL DEFAULT false,
    trigger_type  text NOT NULL DEFAULT 'manual',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.automation_nodes (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id   uuid NOT NULL REFERENCES public.automation_workflows (id) ON DELETE CASCADE,
    node_type     text NOT NULL,
    label         text,
    config        jsonb NOT NULL DEFAULT '{}'::jsonb,
    position_x    integer NOT NULL DEFAULT 0,
    position_y    integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.automation_connections (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id     uuid NOT NULL REFERENCES public.automation_workflows (id) ON DELETE CASCADE,
    source_node_id  uuid NOT NULL REFERENCES public.automation_nodes (id) ON DELETE CASCADE,
    target_node_id  uuid NOT NULL REFERENCES public.automation_nodes (id) ON DELETE CASCADE,
    condition       jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- Credits
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.user_credits (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL UNIQUE REFERENCES auth.users (id) ON DELETE CASCADE,
    balance             numeric(14,4) NOT NULL DEFAULT 0,
    lifetime_purchased  numeric(14,4) NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.credit_transactions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_credit_id    uuid NOT NULL REFERENCES public.user_credits (id) ON DELETE CASCADE,
    amount            numeric(14,4) NOT NULL,
    transaction_type  text NOT NULL,
    description       text,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- Support
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.support_tickets (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    subject     text NOT NULL,
    status      text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    priority    text NOT NULL DEFAULT 'normal',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.support_ticket_messages (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ticket_id    uuid NOT NULL REFERENCES public.support_tickets (id) ON DELETE CASCADE,
    sender_id    uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    body         text NOT NULL,
    is_internal  boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- Blog
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.blog_posts (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    author_id     uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    slug          text NOT NULL UNIQUE,
    title         text NOT NULL,
    body          text,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.blog_comments (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    post_id     uuid NOT NULL REFERENCES public.blog_posts (id) ON DELETE CASCADE,
    parent_id   uuid REFERENCES public.blog_comments (id) ON DELETE CASCADE,
    author_id   uuid REFERENCES auth.users (id) ON DELETE SET NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- Vibe coding sessions and token ledger
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.vibe_sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    title       text,
    status      text NOT NULL DEFAULT 'active',
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.token_transactions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    tokens            integer NOT NULL,
    transaction_type  text NOT NULL,
    model             text,
    description       text,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- -----------------------------------------------------------------------------
-- Row Level Security
-- -----------------------------------------------------------------------------
-- User-owned tables: the owner may do everything with their own rows.
ALTER TABLE public.user_subscriptions   ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.purchased_employees  ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.conversations        ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.automation_workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.user_credits         ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.support_tickets      ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.vibe_sessions        ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.token_transactions   ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users manage own subscription" ON public.user_subscriptions
    FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users manage own employees" ON public.purchased_employees
    FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users manage own conversations" ON public.conversations
    FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users manage own workflows" ON public.automation_workflows
    FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users view own credits" ON public.user_credits
    FOR SELECT USING (auth.uid() = user_id);
CREATE POLICY "Users manage own tickets" ON public.support_tickets
    FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users manage own vibe sessions" ON public.vibe_sessions
    FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
CREATE POLICY "Users view own token transactions" ON public.token_transactions
    FOR SELECT USING (auth.uid() = user_id);

-- Child tables: access follows the owning parent row.
ALTER TABLE public.conversation_participants ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.automation_nodes          ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.automation_connections    ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.credit_transactions       ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.support_ticket_messages   ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users manage participants of own conversations" ON public.conversation_participants
    FOR ALL
    USING (EXISTS (SELECT 1 FROM public.conversations c
                   WHERE c.id = conversation_id AND c.user_id = auth.uid()))
    WITH CHECK (EXISTS (SELECT 1 FROM public.conversations c
                        WHERE c.id = conversation_id AND c.user_id = auth.uid()));
CREATE POLICY "Users manage nodes of own workflows" ON public.automation_nodes
    FOR ALL
    USING (EXISTS (SELECT 1 FROM public.automation_workflows w
                   WHERE w.id = workflow_id AND w.user_id = auth.uid()))
    WITH CHECK (EXISTS (SELECT 1 FROM public.automation_workflows w
                        WHERE w.id = workflow_id AND w.user_id = auth.uid()));
CREATE POLICY "Users manage connections of own workflows" ON public.automation_connections
    FOR ALL
    USING (EXISTS (SELECT 1 FROM public.automation_workflows w
                   WHERE w.id = workflow_id AND w.user_id = auth.uid()))
    WITH CHECK (EXISTS (SELECT 1 FROM public.automation_workflows w
                        WHERE w.id = workflow_id AND w.user_id = auth.uid()));
CREATE POLICY "Users view own credit transactions" ON public.credit_transactions
    FOR SELECT
    USING (EXISTS (SELECT 1 FROM public.user_credits uc
                   WHERE uc.id = user_credit_id AND uc.user_id = auth.uid()));
CREATE POLICY "Users view messages of own tickets" ON public.support_ticket_messages
    FOR SELECT
    USING (NOT is_internal
           AND EXISTS (SELECT 1 FROM public.support_tickets t
                       WHERE t.id = ticket_id AND t.user_id = auth.uid()));
CREATE POLICY "Users post messages to own tickets" ON public.support_ticket_messages
    FOR INSERT
    WITH CHECK (sender_id = auth.uid()
                AND NOT is_internal
                AND EXISTS (SELECT 1 FROM public.support_tickets t
                            WHERE t.id = ticket_id AND t.user_id = auth.uid()));

-- Blog: published posts and their comments are public; authors manage their own.
ALTER TABLE public.blog_posts    ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.blog_comments ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Published posts are public" ON public.blog_posts
    FOR SELECT USING (published_at IS NOT NULL AND published_at <= now());
CREATE POLICY "Authors manage own posts" ON public.blog_posts
    FOR ALL USING (auth.uid() = author_id) WITH CHECK (auth.uid() = author_id);
CREATE POLICY "Comments are public" ON public.blog_comments
    FOR SELECT USING (true);
CREATE POLICY "Authors manage own comments" ON public.blog_comments
    FOR ALL USING (auth.uid() = author_id) WITH CHECK (auth.uid() = author_id);
