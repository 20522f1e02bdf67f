import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { connect } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { dockerRequest, openTunnel } from './support/docker-tunnel.ts'
import { registerAdmin, waitForServerStatus } from './support/flows.ts'
import { makeNatHost, type NatHost } from './support/netns.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// A host behind NAT: its agent runs in a network namespace that takes no connection in, and
// dials out to the API. Docker on that host is still reached, through the agent's own link.
// The Node pass only: what it tests is the agent's side, which is the same whatever serves the API.

const run = Math.random().toString(36).slice(2, 7)
let nat: NatHost
let api: ApiTarget
let admin: string
let serverId: string
let agent: Child | undefined
let listener: ReturnType<typeof spawn> | undefined

beforeAll(async () => {
  nat = makeNatHost(run)
  // Reached by the namespace at its gateway address; the tests use 127.0.0.1.
  api = await startApi({ target: 'node', env: { HOST: '0.0.0.0' } })
  admin = await registerAdmin(api.http)
  const created = await api.http.post('/servers', { token: admin, body: { name: 'behind-nat' } })
  serverId = created.body.server.id
  const port = new URL(api.url).port
  agent = startAgentProcess({
    api: `http://${nat.gateway}:${port}`,
    token: created.body.enrollment.token,
    stateDir: mkdtempSync(join(os.tmpdir(), 'berth-agent-')),
    netns: nat.name,
  })
  await waitForServerStatus(api.http, admin, serverId, 'online')
})

afterAll(async () => {
  listener?.kill()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await agent?.stop()
  await api?.stop()
  nat?.remove()
})

/** Whether a TCP connection to `host:port` is made within a second. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 })
    const done = (made: boolean) => {
      socket.destroy()
      resolve(made)
    }
    socket.once('connect', () => done(true))
    socket.once('timeout', () => done(false))
    socket.once('error', () => done(false))
  })
}

test("the host takes no connection in, and its Docker is listed through the agent's link", async () => {
  // A listener on the host behind NAT, that nothing outside can reach.
  listener = spawn('ip', ['netns', 'exec', nat.name, 'busybox', 'nc', '-l', '-p', '2375'], {
    stdio: 'ignore',
  })
  expect(await reachable(nat.address, 2375)).toBe(false)

  const name = `t${run}-behind-nat`
  docker('run', '-d', '--name', name, TEST_IMAGE, 'sleep', '300')
  const tunnel = await openTunnel(api.url, serverId, admin)
  tunnel.send(dockerRequest('GET', '/v1.41/containers/json'))
  const answer = await tunnel.waitFor(`"/${name}"`)
  expect(answer).toMatch(/^HTTP\/1\.1 200 OK/)
  tunnel.close()
})
