#!/usr/bin/env bash
# `npm run lint:size`: no TypeScript file over 400 lines. A file that grows past that holds more
# than one job; split it by job (docs/architecture.md says where each kind of code lives).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=400
over=$(git ls-files -co --exclude-standard -- '*.ts' '*.tsx' | xargs wc -l | awk -v limit="$limit" '$2 != "total" && $1 > limit')
if [ -n "$over" ]; then
  echo "files over $limit lines:" >&2
  echo "$over" >&2
  exit 1
fi
