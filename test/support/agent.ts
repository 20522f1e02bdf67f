import { join } from 'node:path'
import { type Child, spawnProcess } from './process.ts'

export const AGENT_BUNDLE = 'packages/agent/dist/berth-agent.mjs'

/** Starts the bundled agent as its own process, as a host would run it. */
export function startAgentProcess(opts: {
  api: string
  token?: string
  stateDir: string
  name?: string
  env?: Record<string, string>
  /** The host's Caddy (test/support/caddy.ts); without it the agent is told there is none. */
  caddy?: { agentEnv: Record<string, string> }
  /** A network namespace to run it in (`ip netns exec`), as a host behind NAT. */
  netns?: string
}): Child {
  const args = [AGENT_BUNDLE, '--api', opts.api, '--state', join(opts.stateDir, 'agent.json')]
  if (opts.token) args.push('--token', opts.token)
  if (opts.name) args.push('--name', opts.name)
  const [command, ...argv] = opts.netns
    ? ['ip', 'netns', 'exec', opts.netns, process.execPath, ...args]
    : [process.execPath, ...args]
  return spawnProcess(command ?? process.execPath, argv, {
    BERTH_API_URL: undefined,
    BERTH_AGENT_TOKEN: undefined,
    // Off unless given, so no test agent drives a Caddy it was not given (a host's own on :2019).
    BERTH_CADDY_ADMIN: 'off',
    BERTH_CADDY_HTTP_PORT: undefined,
    BERTH_CADDY_HTTPS_PORT: undefined,
    ...opts.caddy?.agentEnv,
    ...opts.env,
  })
}
