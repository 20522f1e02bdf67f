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
npx vitest run --config test/vitest.config.ts "$@"
