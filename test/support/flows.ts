import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { startAgentProcess } from './agent.ts'
import { docker, removeContainers } from './docker.ts'
import type { Client, Reply } from './http.ts'
import { type Child, waitFor } from './process.ts'
import { type ApiTarget, startApi, type TargetOptions } from './target.ts'

export const ADMIN = { email: 'admin@example.com', password: 'correct horse battery' }

/** Registers the first user (the admin) and returns its session token. */
export async function registerAdmin(http: Client): Promise<string> {
  const reg = await http.post('/auth/register', { body: ADMIN })
  expect(reg.status).toBe(201)
  return login(http, ADMIN.email, ADMIN.password)
}

export async function login(http: Client, email: string, password: string): Promise<string> {
  const res = await http.post('/auth/login', { body: { email, password } })
  expect(res.status, res.text).toBe(200)
  return res.body.token
}

export async function createUser(http: Client, admin: string, role: 'admin' | 'member' | 'viewer') {
  const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`
  const password = `${role} password 123`
  const res = await http.post('/users', { token: admin, body: { email, password, role } })
  expect(res.status, res.text).toBe(201)
  return { id: res.body.user.id as string, email, password, token: await login(http, email, password) }
}

export async function waitForServerStatus(
  http: Client,
  token: string,
  serverId: string,
  status: string,
  timeoutMs = 15_000,
) {
  return waitFor(
    `server ${serverId} to be ${status}`,
    async () => {
      const res = await http.get(`/servers/${serverId}`, { token })
      return res.body.server?.status === status ? res.body.server : undefined
    },
    timeoutMs,
  )
}

let serversStarted = 0

/**
 * A slice of the default port range of its own for each agent started here. A host has one agent
 * that owns its range; the test files running at once put several on this host, and one agent
 * cannot see a port another has chosen but not yet bound. Files running at once have different
 * pool ids, and each file's agents take turns through its half.
 */
function ownPortRange(): { start: number; end: number } {
  const pool = Number(process.env.VITEST_POOL_ID ?? 1) - 1
  const start = 20_000 + (pool % 2) * 5_000 + (serversStarted++ % 10) * 500
  return { start, end: start + 499 }
}

/** Creates a server and starts a real agent process for it; resolves once the server is online. */
export async function startServerWithAgent(
  api: { url: string; http: Client },
  admin: string,
  name: string,
  caddy?: { agentEnv: Record<string, string> },
) {
  const created = await api.http.post('/servers', { token: admin, body: { name } })
  expect(created.status, created.text).toBe(201)
  const serverId: string = created.body.server.id
  const ranged = await api.http.patch(`/servers/${serverId}`, {
    token: admin,
    body: { port_range: ownPortRange() },
  })
  expect(ranged.status, ranged.text).toBe(200)
  const stateDir = mkdtempSync(join(os.tmpdir(), 'berth-agent-'))
  const agent = startAgentProcess({ api: api.url, token: created.body.enrollment.token, stateDir, caddy })
  await waitForServerStatus(api.http, admin, serverId, 'online')
  return { serverId, stateDir, agent }
}

/** Runs a container with the Docker CLI (`docker run -d …args`) and waits until the API lists it. */
export async function runSeenContainer(
  api: { http: Client },
  admin: string,
  serverId: string,
  ...args: string[]
): Promise<string> {
  const id = execFileSync('docker', ['run', '-d', ...args], { encoding: 'utf8' }).trim()
  await waitFor('the container in the API', async () => {
    const res = await api.http.get(`/servers/${serverId}/containers/${id}`, { token: admin })
    return res.status === 200
  })
  return id
}

/** An API with its admin and one server whose agent is online. */
export interface AgentHost {
  api: ApiTarget
  admin: string
  serverId: string
  agent: Child
  /** Removes the containers whose names start with the host's prefix, stops the agent and the API. */
  stop(): Promise<void>
}

/** Starts an AgentHost: the server is named `name`; the test names its containers `<prefix>…`. */
export async function startAgentHost(
  name: string,
  prefix: string,
  options: TargetOptions = {},
): Promise<AgentHost> {
  const api = await startApi(options)
  let agent: Child | undefined
  const stop = async () => {
    removeContainers(docker('ps', '-aq', '--filter', `name=${prefix}`).split('\n').filter(Boolean))
    await agent?.stop()
    await api.stop()
  }
  try {
    const admin = await registerAdmin(api.http)
    const started = await startServerWithAgent(api, admin, name)
    agent = started.agent
    return { api, admin, serverId: started.serverId, agent, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** An API with its admin, one server whose agent is online, and one container the API has seen. */
export interface ContainerHost {
  api: ApiTarget
  admin: string
  serverId: string
  agent: Child
  containerId: string
  /** Stops the agent, removes the container and stops the API; what was started, if setup failed part way. */
  stop(): Promise<void>
}

/** Starts a ContainerHost: the server is named `name`, the container is `docker run -d …run`. */
export async function startContainerHost(
  name: string,
  run: string[],
  options: TargetOptions = {},
): Promise<ContainerHost> {
  const started: Partial<ContainerHost> = {}
  const stop = async () => {
    await started.agent?.stop()
    if (started.containerId) removeContainers([started.containerId])
    await started.api?.stop()
  }
  try {
    const api = await startApi(options)
    started.api = api
    const admin = await registerAdmin(api.http)
    const { serverId, agent } = await startServerWithAgent(api, admin, name)
    started.agent = agent
    const containerId = await runSeenContainer(api, admin, serverId, ...run)
    started.containerId = containerId
    return { api, admin, serverId, agent, containerId, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The documented error body, with the request id that the header carries, and no stack trace. */
export function expectErrorBody(res: Reply, status: number, error: string) {
  expect(res.status, res.text).toBe(status)
  expect(res.body).toEqual(
    expect.objectContaining({
      error,
      code: expect.any(String),
      message: expect.any(String),
      status,
      request_id: res.headers.get('x-request-id'),
      timestamp: expect.any(String),
    }),
  )
  expect(res.text).not.toMatch(/\bat .+\.(ts|js|mjs):\d+/)
  expect(res.text).not.toMatch(/node_modules|SQLITE|stack/i)
}
