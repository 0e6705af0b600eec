#!/bin/bash
# Client CPU per call of one or more loadtest builds, A/B, interleaved: the loadtest process's
# own task-clock (perf stat; its server is not counted) per 1000 calls, median/min/max of ROUNDS.
# This machine has no hardware counters, so CPU time it is; alternate the builds and take many
# rounds, since the noise here is ±15%.
#
#   scripts/cpu-per-call.sh URL SCENARIO OPS ROUNDS BIN [BIN...]
#   CONNS=8 WORKERS=8 THREADS=1 MODE=prepared (defaults)
#
# URL: a server loadtest may create databases on (for example a scratch cluster kept with
# `loadtest run token-race --ops 1 --keep`). SCENARIO: scripts/cpu-per-call/rpc-hot.toml or
# rmw-hot.toml (the vs_pgbench workloads). The one-call set-up is not subtracted: compare builds
# with each other at the same OPS, not with pgbench (benches/vs_pgbench.rs does that).
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: $0 URL SCENARIO OPS ROUNDS BIN [BIN...]" >&2; exit 2; }
url=$1 scenario=$2 ops=$3 rounds=$4; shift 4
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for _ in $(seq "$rounds"); do
  for bin in "$@"; do
    perf stat -x, -e task-clock -o "$work/stat" "$bin" run "$scenario" --ops "$ops" \
      --connections "${CONNS:-8}" --workers "${WORKERS:-8}" --threads "${THREADS:-1}" \
      --query-mode "${MODE:-prepared}" --quiet --report-dir "$work/r" --database-url "$url" \
      >/dev/null 2>"$work/err" || [ $? -eq 1 ] || { cat "$work/err" >&2; exit 1; }
    echo "$bin $(grep task-clock "$work/stat" | cut -d, -f1)" >> "$work/all"
  done
done
python3 - "$ops" "$work/all" <<'PY'
import statistics, sys
ops = int(sys.argv[1]); per = {}
for line in open(sys.argv[2]):
    name, ms = line.rsplit(" ", 1)
    per.setdefault(name, []).append(float(ms) / (ops / 1000))
for name, v in per.items():
    print(f"{name}: median {statistics.median(v):.2f} ms/1k calls (min {min(v):.2f}, max {max(v):.2f}, {len(v)} rounds)")
PY
