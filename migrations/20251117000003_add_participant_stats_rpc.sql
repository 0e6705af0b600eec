-- =============================================================================
-- 20251117000003_add_participant_stats_rpc.sql
-- =============================================================================
-- Fixes seed Bug #3 (Race Condition - Participant Stats):
-- incrementParticipantStats() fetched a conversation_participants row and
-- wrote back the computed totals, so concurrent agents updating the same
-- participant lost increments.
--
-- increment_participant_stats() increments message_count, tokens_used,
-- cost_incurred and tasks_completed and stamps last_active_at in ONE UPDATE
-- statement, so all four counters change atomically and concurrent calls
-- serialise on the row lock instead of overwriting each other.
-- =============================================================================

CREATE OR REPLACE FUNCTION public.increment_participant_stats(
  p_participant_id UUID,
  p_message_count INTEGER DEFAULT 0,
  p_tokens_used INTEGER DEFAULT 0,
  p_cost_incurred NUMERIC DEFAULT 0,
  p_tasks_completed INTEGER DEFAULT 0
)
RETURNS VOID
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public
AS $$
BEGIN
  UPDATE conversation_participants
  SET message_count = message_count + p_message_count,
      tokens_used = tokens_used + p_tokens_used,
      cost_incurred = cost_incurred + p_cost_incurred,
      tasks_completed = tasks_completed + p_tasks_completed,
      last_active_at = NOW()
  WHERE id = p_participant_id;

  -- Deliberate addition to the seed's function: an UPDATE that matches no row
  -- succeeds silently, so a call for a missing participant (wrong id, or a
  -- participant deleted meanwhile) would be reported to the caller as applied
  -- while nothing was counted. It must fail loudly instead, so the caller
  -- (and a load test counting increments) sees that the stats were not
  -- recorded.
  IF NOT FOUND THEN
    RAISE EXCEPTION 'participant % not found', p_participant_id USING ERRCODE = 'P0001';
  END IF;
END;
$$;

COMMENT ON FUNCTION public.increment_participant_stats(UUID, INTEGER, INTEGER, NUMERIC, INTEGER) IS
  'Atomically increments the stats of one conversation participant; raises P0001 if it does not exist (seed Bug #3).';

GRANT EXECUTE ON FUNCTION public.increment_participant_stats(UUID, INTEGER, INTEGER, NUMERIC, INTEGER)
  TO authenticated, service_role;
