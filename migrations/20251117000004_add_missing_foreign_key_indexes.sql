-- =============================================================================
-- 20251117000004_add_missing_foreign_key_indexes.sql
-- =============================================================================
-- Fixes seed Bug #4 (Missing Foreign Key Indexes): PostgreSQL does not index
-- foreign key columns by itself, so JOINs and lookups on them (and ON DELETE
-- CASCADE checks from the parent) scanned whole tables.
--
-- Adds the foreign key, time-based, composite and "bonus" indexes from the
-- seed, then refreshes planner statistics.
--
-- Plain CREATE INDEX (not CONCURRENTLY): this file runs inside a transaction,
-- where CREATE INDEX CONCURRENTLY is not allowed.
-- =============================================================================

-- 1. Foreign key indexes
CREATE INDEX IF NOT EXISTS idx_automation_nodes_workflow
    ON public.automation_nodes (workflow_id);
CREATE INDEX IF NOT EXISTS idx_automation_connections_workflow
    ON public.automation_connections (workflow_id);
CREATE INDEX IF NOT EXISTS idx_credit_transactions_user_credit
    ON public.credit_transactions (user_credit_id);
CREATE INDEX IF NOT EXISTS idx_support_ticket_messages_ticket
    ON public.support_ticket_messages (ticket_id);
CREATE INDEX IF NOT EXISTS idx_blog_comments_post
    ON public.blog_comments (post_id);
CREATE INDEX IF NOT EXISTS idx_blog_comments_parent
    ON public.blog_comments (parent_id) WHERE parent_id IS NOT NULL;

-- 2. Time-based indexes
CREATE INDEX IF NOT EXISTS idx_vibe_sessions_updated
    ON public.vibe_sessions (updated_at DESC);
CREATE INDEX IF NOT EXISTS idx_token_transactions_created
    ON public.token_transactions (created_at DESC);

-- 3. Composite indexes for common queries
CREATE INDEX IF NOT EXISTS idx_vibe_sessions_user_status
    ON public.vibe_sessions (user_id, status);
CREATE INDEX IF NOT EXISTS idx_support_tickets_user_status
    ON public.support_tickets (user_id, status);

-- 4. Bonus indexes
CREATE INDEX IF NOT EXISTS idx_token_transactions_type
    ON public.token_transactions (transaction_type);
CREATE INDEX IF NOT EXISTS idx_token_transactions_user
    ON public.token_transactions (user_id);

-- 5. Database statistics update
ANALYZE public.automation_nodes, public.automation_connections, public.credit_transactions,
        public.support_ticket_messages, public.blog_comments, public.vibe_sessions,
        public.token_transactions;
