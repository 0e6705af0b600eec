-- =============================================================================
-- rls-select-auth-uid.sql: the seed's policies with auth.uid() evaluated once per query
-- =============================================================================
-- An example migration, not part of migrations/. Every policy of the seed compares
-- `auth.uid() = user_id`: auth.uid() is STABLE, not a constant, so PostgreSQL calls it (and
-- parses the JWT claims it reads) once for every row the policy filters. Wrapped in a scalar
-- sub-select, `(select auth.uid()) = user_id`, it becomes an InitPlan: evaluated once per
-- query, and its value can be used as an index condition. This is Supabase's advice
-- (the `auth_rls_initplan` advisor) and what `loadtest run rls-isolation` reports as
-- `auth-uid-per-row` findings.
--
-- The rows each policy admits do not change: only when auth.uid() is evaluated.
--
-- To measure it (README, "Queries as Supabase runs them"): copy migrations/ and this file
-- into one folder, with a version that sorts before the benchmark's migration under test
-- (20251117000004), e.g. 20251117000003500_rls_select_auth_uid.sql, then
--   loadtest run join-bench --as authenticated --migrations DIR
-- and compare with the same run on the built-in migrations (`loadtest report compare`).
-- =============================================================================

ALTER POLICY "Users manage own subscription" ON public.user_subscriptions
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users manage own employees" ON public.purchased_employees
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users manage own conversations" ON public.conversations
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users manage own workflows" ON public.automation_workflows
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users view own credits" ON public.user_credits
    USING ((select auth.uid()) = user_id);
ALTER POLICY "Users manage own tickets" ON public.support_tickets
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users manage own vibe sessions" ON public.vibe_sessions
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users view own token transactions" ON public.token_transactions
    USING ((select auth.uid()) = user_id);

ALTER POLICY "Users manage participants of own conversations" ON public.conversation_participants
    USING (EXISTS (SELECT 1 FROM public.conversations c
                   WHERE c.id = conversation_id AND c.user_id = (select auth.uid())))
    WITH CHECK (EXISTS (SELECT 1 FROM public.conversations c
                        WHERE c.id = conversation_id AND c.user_id = (select auth.uid())));
ALTER POLICY "Users manage nodes of own workflows" ON public.automation_nodes
    USING (EXISTS (SELECT 1 FROM public.automation_workflows w
                   WHERE w.id = workflow_id AND w.user_id = (select auth.uid())))
    WITH CHECK (EXISTS (SELECT 1 FROM public.automation_workflows w
                        WHERE w.id = workflow_id AND w.user_id = (select auth.uid())));
ALTER POLICY "Users manage connections of own workflows" ON public.automation_connections
    USING (EXISTS (SELECT 1 FROM public.automation_workflows w
                   WHERE w.id = workflow_id AND w.user_id = (select auth.uid())))
    WITH CHECK (EXISTS (SELECT 1 FROM public.automation_workflows w
                        WHERE w.id = workflow_id AND w.user_id = (select auth.uid())));
ALTER POLICY "Users view own credit transactions" ON public.credit_transactions
    USING (EXISTS (SELECT 1 FROM public.user_credits uc
                   WHERE uc.id = user_credit_id AND uc.user_id = (select auth.uid())));
ALTER POLICY "Users view messages of own tickets" ON public.support_ticket_messages
    USING (NOT is_internal
           AND EXISTS (SELECT 1 FROM public.support_tickets t
                       WHERE t.id = ticket_id AND t.user_id = (select auth.uid())));
ALTER POLICY "Users post messages to own tickets" ON public.support_ticket_messages
    WITH CHECK (sender_id = (select auth.uid())
                AND NOT is_internal
                AND EXISTS (SELECT 1 FROM public.support_tickets t
                            WHERE t.id = ticket_id AND t.user_id = (select auth.uid())));
ALTER POLICY "Authors manage own posts" ON public.blog_posts
    USING ((select auth.uid()) = author_id) WITH CHECK ((select auth.uid()) = author_id);
ALTER POLICY "Authors manage own comments" ON public.blog_comments
    USING ((select auth.uid()) = author_id) WITH CHECK ((select auth.uid()) = author_id);

ALTER POLICY "Users can view own executions" ON public.workforce_executions
    USING ((select auth.uid()) = user_id);
ALTER POLICY "Users can create own executions" ON public.workforce_executions
    WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users can update own executions" ON public.workforce_executions
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users can delete own executions" ON public.workforce_executions
    USING ((select auth.uid()) = user_id);
ALTER POLICY "Users can view own tasks" ON public.workforce_tasks
    USING ((select auth.uid()) = user_id);
ALTER POLICY "Users can create own tasks" ON public.workforce_tasks
    WITH CHECK ((select auth.uid()) = user_id
                AND EXISTS (SELECT 1 FROM public.workforce_executions e
                            WHERE e.id = execution_id AND e.user_id = (select auth.uid())));
ALTER POLICY "Users can update own tasks" ON public.workforce_tasks
    USING ((select auth.uid()) = user_id) WITH CHECK ((select auth.uid()) = user_id);
ALTER POLICY "Users can delete own tasks" ON public.workforce_tasks
    USING ((select auth.uid()) = user_id);
