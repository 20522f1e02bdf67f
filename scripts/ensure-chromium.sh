#!/usr/bin/env bash
# The dashboard's tests drive Debian's Chromium through playwright-core (which downloads no browser).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
command -v chromium >/dev/null 2>&1 || apt_install chromium fonts-dejavu-core
