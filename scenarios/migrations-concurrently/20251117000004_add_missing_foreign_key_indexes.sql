-- =============================================================================
-- 20251117000004_add_missing_foreign_key_indexes.sql (CONCURRENTLY variant)
-- =============================================================================
-- The seed's index migration with every index built CONCURRENTLY, so writes to
-- the tables keep going while each index is built (the build takes a
-- SHARE UPDATE EXCLUSIVE lock, which does not conflict with INSERT/UPDATE/
-- DELETE; the seed's plain CREATE INDEX takes SHARE, which blocks them all
-- until the transaction commits).
--
-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block:
-- - loadtest sees CONCURRENTLY and applies this file statement by statement in
--   autocommit (no BEGIN/COMMIT around it), recording it once all succeeded;
-- - with the Supabase CLI, keep such a file free of BEGIN/COMMIT and of other
--   statements that need a transaction, and push it on its own
--   (`supabase db push`); in the SQL editor, run the statements one at a time.
-- If a statement fails midway, the ones before it stay applied and a failed
-- build leaves an INVALID index: DROP INDEX CONCURRENTLY it and run the file
-- again (IF NOT EXISTS skips the indexes already built).
-- =============================================================================

-- 1. Foreign key indexes
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_automation_nodes_workflow
    ON public.automation_nodes (workflow_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_automation_connections_workflow
    ON public.automation_connections (workflow_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_credit_transactions_user_credit
    ON public.credit_transactions (user_credit_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_support_ticket_messages_ticket
    ON public.support_ticket_messages (ticket_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_blog_comments_post
    ON public.blog_comments (post_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_blog_comments_parent
    ON public.blog_comments (parent_id) WHERE parent_id IS NOT NULL;

-- 2. Time-based indexes
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_vibe_sessions_updated
    ON public.vibe_sessions (updated_at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_token_transactions_created
    ON public.token_transactions (created_at DESC);

-- 3. Composite indexes for common queries
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_vibe_sessions_user_status
    ON public.vibe_sessions (user_id, status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_support_tickets_user_status
    ON public.support_tickets (user_id, status);

-- 4. Bonus indexes
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_token_transactions_type
    ON public.token_transactions (transaction_type);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_token_transactions_user
    ON public.token_transactions (user_id);

-- 5. Database statistics update
ANALYZE public.automation_nodes, public.automation_connections, public.credit_transactions,
        public.support_ticket_messages, public.blog_comments, public.vibe_sessions,
        public.token_transactions;
