#!/usr/bin/env bash
# `npm test`: installs what the tests need, then type checks, lints and runs every suite
# against a real Docker Engine: on Node, then the e2e flows again under workerd (wrangler dev).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_node_modules
bash scripts/ensure-docker.sh
bash scripts/ensure-caddy.sh
bash scripts/ensure-chromium.sh
ensure_bundles
npm run --silent typecheck
# Biome, no import circle (madge), no file over 400 lines.
npm run --silent lint
# The runtime seam: only runtime/workers imports cloudflare:*, and the worker bundles without
# nodejs_compat (so no node:*, ws or libSQL's Node client reaches it). Nothing leaves this machine.
if grep -rlE "from ['\"]cloudflare:" packages/api/src --include='*.ts' | grep -v '^packages/api/src/runtime/workers/'; then
  echo 'cloudflare:* is imported outside packages/api/src/runtime/workers' >&2
  exit 1
fi
export WRANGLER_SEND_METRICS=false
bundle=$(mktemp -d)
CI=true WRANGLER_LOG=error npx wrangler deploy --dry-run --outdir "$bundle"
rm -rf "$bundle"

node_report=$(mktemp)
workerd_report=$(mktemp)
quiet_report=$(mktemp)
status=0
npx vitest run --config test/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$node_report" "$@" || status=$?
if [ $# -eq 0 ]; then
  # The same e2e flows against the API under workerd: local D1 and the AgentHub Durable Object.
  # start.test.ts is left out: it tests `npm start`, the Node runtime's own start; so is
  # libsql-http.test.ts, which starts its worker under workerd itself and ran in the Node pass.
  BERTH_TEST_TARGET=workerd npx vitest run --config test/vitest.config.ts --project e2e \
    --reporter=default --reporter=json --outputFile.json="$workerd_report" \
    test/errors.test.ts test/openapi.test.ts test/dashboard.test.ts test/dashboard-people.test.ts test/dashboard-servers.test.ts test/dashboard-container.test.ts test/dashboard-apps.test.ts test/auth.test.ts test/tokens-docker.test.ts test/security-auth.test.ts test/servers.test.ts test/containers.test.ts \
    test/host-objects.test.ts test/containers-all.test.ts \
    test/docker-tunnel.test.ts test/docker-http.test.ts test/apps.test.ts test/apps-sources.test.ts test/domains.test.ts test/domains-https.test.ts test/domains-traffic.test.ts test/apps-raw-ports.test.ts test/deployments.test.ts test/deployments-outages.test.ts \
    test/webhooks.test.ts test/files.test.ts test/git.test.ts test/exec.test.ts test/cli-exec.test.ts test/cli-deploy.test.ts test/docker-cli.test.ts test/docker-compose.test.ts \
    test/realtime.test.ts test/realtime-servers.test.ts test/streams.test.ts test/follows.test.ts test/security-*.test.ts || status=$?
  # Alone: it waits for the agent's socket to go quiet, which Docker events from other suites'
  # containers (the agent reports every one) would keep from happening.
  BERTH_TEST_TARGET=workerd npx vitest run --config test/vitest.config.ts --project e2e \
    --reporter=default --reporter=json --outputFile.json="$quiet_report" \
    test/hibernation.test.ts || status=$?
fi
# One closing line that any reader of the log can count on.
node -e '
const fs = require("fs")
let passed = 0, failed = 0, skipped = 0
for (const file of process.argv.slice(1)) {
  if (fs.statSync(file).size === 0) continue
  const r = JSON.parse(fs.readFileSync(file, "utf8"))
  passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)' "$node_report" "$workerd_report" "$quiet_report" || true
rm -f "$node_report" "$workerd_report" "$quiet_report"
exit $status
