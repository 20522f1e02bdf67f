import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { startAgentProcess } from './agent.ts'
import type { Client } from './http.ts'
import { waitFor } from './process.ts'

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

/** Creates a server and starts a real agent process for it; resolves once the server is online. */
export async function startServerWithAgent(api: { url: string; http: Client }, admin: string, name: string) {
  const created = await api.http.post('/servers', { token: admin, body: { name } })
  expect(created.status, created.text).toBe(201)
  const serverId: string = created.body.server.id
  const stateDir = mkdtempSync(join(os.tmpdir(), 'berth-agent-'))
  const agent = startAgentProcess({ api: api.url, token: created.body.enrollment.token, stateDir })
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
