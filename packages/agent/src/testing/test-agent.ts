import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { type Agent, type AgentOptions, startAgent } from '../index.ts'
import { StandInApi, type StandInLink } from './stand-in-api.ts'

// A real agent linked to a stand-in API, for the agent's unit tests.

export interface LinkedAgent {
  api: StandInApi
  agent: Agent
  /** The first link, welcomed. */
  link: StandInLink
  log: string[]
  stop(): Promise<void>
}

export async function linkedAgent(
  options: { statsIntervalMs?: number; serverId?: string; agent?: Partial<AgentOptions> } = {},
): Promise<LinkedAgent> {
  const api = await StandInApi.start()
  api.statsIntervalMs = options.statsIntervalMs
  const folder = await mkdtemp(join(os.tmpdir(), 'berth-agent-'))
  const log: string[] = []
  const agent = startAgent({
    api: api.url,
    token: api.addServer(options.serverId ?? 'srv_test'),
    statePath: join(folder, 'agent.json'),
    name: 'test-host',
    backoff: { baseMs: 10, capMs: 50 },
    log: (line) => log.push(line),
    ...options.agent,
  })
  const link = await api.link(0)
  await link.take('hello')
  return {
    api,
    agent,
    link,
    log,
    async stop() {
      await agent.stop()
      await api.close()
      await rm(folder, { recursive: true, force: true })
    },
  }
}
