#!/bin/bash
# The README's soak figures ("Faults: `--faults` and `--ledger`"): the rpc path alone (a copy of
# scenarios/token-race.toml without its fallback path) for DURATION (default 5m) under
# `--faults kill:200ms,cut:500ms --ledger`, printing the loadtest process's resident set (VmRSS)
# and its high-water mark (VmHWM) every 10 s from /proc, then the run's exit code and Markdown
# report. Run from the project root after `cargo build --release`; needs no server (the run starts
# its own scratch cluster) and leaves nothing behind. The scratch server is not counted.
set -uo pipefail
BIN=${BIN:-target/release/loadtest}
DURATION=${DURATION:-5m}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
awk '/^\[\[paths\]\]/ { n++ } n < 2' scenarios/token-race.toml >"$w/rpc-only.toml"
"$BIN" run "$w/rpc-only.toml" --duration "$DURATION" --faults kill:200ms,cut:500ms --ledger \
  --report-dir "$w/r" --quiet >"$w/out" 2>"$w/err" &
pid=$!
start=$SECONDS
mib() { awk -v k="$1" '$1 == k ":" { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null; }
while kill -0 "$pid" 2>/dev/null; do
  sleep 10
  rss=$(mib VmRSS) hwm=$(mib VmHWM)
  [ -n "$rss" ] || break
  echo "$((SECONDS - start)) s: RSS $rss MiB (peak so far $hwm MiB)"
done
wait "$pid"
echo "exit $?"
tail -3 "$w/err"
cat "$w/out"
