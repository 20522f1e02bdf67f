# Shared by the project's scripts: install dependencies when the lock file changed, and Debian's
# packages a suite needs when running as root on Debian.
ensure_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "berth: installing dependencies" >&2
    # npm install, not npm ci: npm 11 leaves other platforms' optional binaries (Biome's) out of
    # the lock file, and npm ci then refuses the lock.
    npm install --no-audit --no-fund --loglevel=error
  fi
}

# Rebuilds the agent and CLI bundles and the dashboard (one npm run build) when one is missing or
# older than a source it is built from.
ensure_bundles() {
  local bundle sources
  for bundle in packages/agent/dist/berth-agent.mjs packages/cli/dist/berth.mjs packages/web/dist/index.html; do
    sources="${bundle%%/dist/*}"
    if [ ! -f "$bundle" ] || [ -n "$(find "$sources/src" "$sources/index.html" packages/shared/src packages/client/src \
      -newer "$bundle" \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name '*.html' \) -print -quit 2>/dev/null)" ]; then
      npm run build --silent
      return
    fi
  done
}

say() { echo "berth: $*" >&2; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_install() {
  if ! can_apt; then
    say "missing: $* (install them, or run as root on Debian so this script can)"
    exit 1
  fi
  if [ $apt_updated = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  say "installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
