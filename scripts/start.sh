#!/usr/bin/env bash
# `npm start`: the API on Node with its libSQL file, and a local agent when Docker answers.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_node_modules
ensure_bundles
exec node --import tsx packages/api/src/runtime/node/main.ts
