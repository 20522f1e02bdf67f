# Shared by the project's scripts: install dependencies when the lock file changed.
ensure_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "berth: installing dependencies" >&2
    # npm install, not npm ci: npm 11 leaves other platforms' optional binaries (Biome's) out of
    # the lock file, and npm ci then refuses the lock.
    npm install --no-audit --no-fund --loglevel=error
  fi
}

ensure_agent_bundle() {
  if [ ! -f packages/agent/dist/berth-agent.mjs ] || [ -n "$(find packages/agent/src packages/shared/src -newer packages/agent/dist/berth-agent.mjs -name '*.ts' -print -quit)" ]; then
    npm run build --silent
  fi
}
