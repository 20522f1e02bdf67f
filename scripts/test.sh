#!/usr/bin/env bash
# `npm test`: installs what the tests need, then type checks, lints and runs every suite
# against a real Docker Engine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_node_modules
bash scripts/ensure-docker.sh
ensure_agent_bundle
npx tsc -p tsconfig.json --noEmit
npx biome check .
report=$(mktemp)
status=0
npx vitest run --config test/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One closing line that any reader of the log can count on.
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)' "$report" || true
rm -f "$report"
exit $status
