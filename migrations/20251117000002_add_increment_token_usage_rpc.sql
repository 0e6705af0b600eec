-- =============================================================================
-- 20251117000002_add_increment_token_usage_rpc.sql
-- =============================================================================
-- Fixes seed Bug #2 (Missing RPC Function - Token Usage): the code called an
-- increment_token_usage RPC that did not exist and fell back to a
-- read-modify-write (fetch -> calculate -> update) of
-- user_subscriptions.used_tokens, so concurrent requests lost increments.
--
-- increment_token_usage(p_user_id, p_tokens_used) adds p_tokens_used to the
-- user's used_tokens in ONE UPDATE statement, which is atomic: the row lock
-- taken by the UPDATE serialises concurrent callers and each one adds to the
-- value committed by the previous one.
--
-- As in the seed, a call for a user without a subscription row updates
-- nothing and returns normally.
-- =============================================================================

CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id UUID, p_tokens_used INTEGER)
RETURNS VOID
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public
AS $$
BEGIN
  UPDATE user_subscriptions
  SET used_tokens = used_tokens + p_tokens_used,
      updated_at = NOW()
  WHERE user_id = p_user_id;
END;
$$;

COMMENT ON FUNCTION public.increment_token_usage(UUID, INTEGER) IS
  'Atomically adds p_tokens_used to user_subscriptions.used_tokens of p_user_id (seed Bug #2).';

GRANT EXECUTE ON FUNCTION public.increment_token_usage(UUID, INTEGER) TO authenticated, service_role;
