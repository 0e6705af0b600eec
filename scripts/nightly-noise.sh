#!/bin/bash
# The numbers behind the README's "solo latency" paragraph: N times (default 3), a baseline night,
# a night of the same code and a night whose migration adds pg_sleep(0.002) to the token RPC, all
# at `nightly --ops 3000 --repeat 2`; prints the rpc throughput, p50 and solo rows of each
# comparison. Run from the project root after `cargo build --release`; needs no server (each
# night starts its own scratch cluster) and leaves nothing behind.
set -uo pipefail
BIN=${BIN:-target/release/loadtest}
for k in $(seq 1 "${N:-3}"); do
  w=$(mktemp -d)
  trap 'rm -rf "$w"' EXIT
  cp -r migrations "$w/m"
  echo token-race >"$w/suite.txt"
  night() { "$BIN" nightly --suite "$w/suite.txt" --ops 3000 --repeat 2 --migrations "$w/m" \
    --baseline "$w/base.json" --report-dir "$w/$1" --quiet "${@:2}"; }
  night r1 --update-baseline >/dev/null 2>&1
  night r2 >"$w/o2" 2>&1
  echo "same code: exit $?"
  grep -E "rpc (throughput|p50|solo)" "$w/o2"
  cat >"$w/m/29991231000000_slow_rpc.sql" <<'SQL'
CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id uuid, p_tokens_used integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM pg_sleep(0.002);
  UPDATE public.user_subscriptions SET used_tokens = used_tokens + p_tokens_used, updated_at = now()
  WHERE user_id = p_user_id;
END $$;
SQL
  night r3 >"$w/o3" 2>&1
  echo "pg_sleep(0.002): exit $?"
  grep -E "rpc (throughput|p50|solo)" "$w/o3"
  rm -rf "$w"
done
