import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Caddy, startCaddy } from '../../../../test/support/caddy.ts'
import { freePort } from '../../../../test/support/process.ts'
import { connectDocker } from '../docker/index.ts'
import { CaddyAdmin } from '../proxy/admin.ts'
import { createArgs, opCaller } from '../testing/ops.ts'
import { TestDocker } from '../testing/test-docker.ts'
import type { AgentRuntime } from './context.ts'
import { newRuntime } from './index.ts'

// An app's host port belongs to the app while the host's Caddy is down (restarting, upgraded):
// a container created or recreated on the host in that time must not take it. Real Caddy and Docker.
const fixtures = new TestDocker()
let caddy: Caddy
let workDir: string
let runtime: AgentRuntime

beforeEach(async () => {
  caddy = await startCaddy({ name: 'host-ports' })
  workDir = await mkdtemp(join(os.tmpdir(), 'berth-host-ports-'))
  runtime = newRuntime({
    workDir,
    apps: {
      docker: connectDocker(),
      serverId: () => 'srv_host_ports',
      log: () => {},
      send: () => {},
      caddy: {
        admin: new CaddyAdmin({ url: new URL(caddy.adminUrl) }),
        ports: { http: caddy.httpPort, https: caddy.httpsPort },
        tlsLog: null,
      },
    },
  })
})

afterEach(async () => {
  fixtures.removeAll()
  await runtime.apps?.stop()
  await caddy.stop()
  await rm(workDir, { recursive: true, force: true })
})

/** An app served through Caddy on `hostPort`, then Caddy killed: the port is free on the host. */
async function appPortWithCaddyDown(): Promise<number> {
  const door = runtime.apps?.frontDoor
  if (!door) throw new Error('no front door')
  await door.start()
  await door.adopt([])
  const hostPort = await freePort()
  await door.route({
    appId: 'app_held',
    hostPort,
    upstreams: [{ dockerId: 'c1', host: '127.0.0.1', port: await freePort() }],
    health: null,
  })
  await caddy.kill()
  return hostPort
}

describe("an app's host port while Caddy is down", { timeout: 30_000 }, () => {
  it('is not given to a container created with a port from the range', async () => {
    const { call } = opCaller(runtime)
    const hostPort = await appPortWithCaddyDown()
    const range = { start: hostPort, end: hostPort + 1 }
    const created = await call(
      'container.create',
      createArgs(fixtures, { ports: [{ container: 8080, protocol: 'tcp' }], port_range: range }),
    )
    expect(created.ports.map((p) => p.host)).toEqual([hostPort + 1])
  })

  it('is not given to a container recreated with a new port', async () => {
    const { call } = opCaller(runtime)
    const hostPort = await appPortWithCaddyDown()
    const range = { start: hostPort, end: hostPort + 1 }
    const created = await call('container.create', createArgs(fixtures, { port_range: range }))
    const recreated = await call('container.recreate', {
      ref: created.docker_id,
      ports: [{ container: 8080, protocol: 'tcp' }],
      port_range: range,
    })
    expect(recreated.ports.map((p) => p.host)).toEqual([hostPort + 1])
  })
})
