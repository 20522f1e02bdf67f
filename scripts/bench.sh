#!/usr/bin/env bash
# `npm run bench`: every benchmark in bench/, each against a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_node_modules
bash scripts/ensure-docker.sh
bash scripts/ensure-caddy.sh --bench
bash scripts/ensure-chromium.sh
ensure_bundles
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
for bench in bench/*.bench.ts; do
  if [ $# -gt 0 ] && [[ " $* " != *" $(basename "$bench" .bench.ts) "* ]]; then continue; fi
  echo "== $(basename "$bench" .bench.ts)"
  node --import tsx --expose-gc "$bench"
done
