import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import type { OpArgs } from '@berth/shared'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createArgs, opCaller, portRange } from '../testing/ops.ts'
import { dockerCli, inspectCli, randomName, TEST_IMAGE, TestDocker } from '../testing/test-docker.ts'

// Against the host's real Docker Engine, as the API would call the agent.
const fixtures = new TestDocker()
const { call, failureOf } = opCaller()

/** Listens on `port` until closed: a port in use on the host. */
async function occupy(port: number): Promise<net.Server> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: '0.0.0.0' }, resolve)
  })
  servers.push(server)
  return server
}

const servers: net.Server[] = []
let folder: string

beforeAll(async () => {
  folder = await mkdtemp(join(os.tmpdir(), 'berth-agent-mount-'))
  await writeFile(join(folder, 'hello.txt'), 'from the host\n')
})

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
  fixtures.removeContainers()
})

afterAll(async () => {
  fixtures.removeAll()
  await rm(folder, { recursive: true, force: true })
})

describe('container.create', { timeout: 30_000 }, () => {
  it('creates and starts a container with its env, limits, ports, mounts and restart policy', async () => {
    const range = portRange()
    const volume = fixtures.volume()
    const detail = await call(
      'container.create',
      createArgs(fixtures, {
        cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'],
        env: { GREETING: 'hello world', EMPTY: '', WITH_EQUALS: 'a=b' },
        labels: { ...fixtures.labels, 'berth.id': 'ctr_web', 'berth.managed': 'true' },
        resources: { cpus: 0.5, memory: 64 * 1024 * 1024, pids: 50 },
        ports: [{ container: 8080, protocol: 'tcp' }],
        port_range: range,
        volumes: [
          { source: folder, target: '/host', readonly: true },
          { source: volume, target: '/data', readonly: false },
        ],
        restart: 'unless-stopped',
      }),
    )

    expect(detail).toMatchObject({
      status: 'running',
      image: TEST_IMAGE,
      exit_code: null,
      health: 'none',
      finished_at: null,
      env: { GREETING: 'hello world', EMPTY: '', WITH_EQUALS: 'a=b', PATH: '/bin' },
      resources: { cpus: 0.5, memory: 64 * 1024 * 1024, pids: 50 },
      restart: 'unless-stopped',
      networks: ['bridge'],
      labels: { 'berth.id': 'ctr_web', 'berth.managed': 'true' },
    })
    expect(detail.started_at).toBeGreaterThanOrEqual(detail.created_at)
    const port = detail.ports.find((p) => p.container === 8080)
    expect(port?.host).toBeGreaterThanOrEqual(range.start)
    expect(port?.host).toBeLessThanOrEqual(range.end)
    expect(detail.mounts).toEqual(
      expect.arrayContaining([
        { type: 'bind', source: folder, target: '/host', readonly: true, name: null },
        expect.objectContaining({ type: 'volume', target: '/data', readonly: false, name: volume }),
      ]),
    )

    const inspected = inspectCli(detail.docker_id)
    expect(inspected?.HostConfig).toMatchObject({
      NanoCpus: 500_000_000,
      Memory: 64 * 1024 * 1024,
      MemorySwap: 64 * 1024 * 1024,
      PidsLimit: 50,
      RestartPolicy: { Name: 'unless-stopped' },
    })
    expect(inspected?.Config.Env).toContain('GREETING=hello world')
    expect(dockerCli('exec', detail.docker_id, 'cat', '/host/hello.txt')).toBe('from the host')
    const page = await fetch(`http://127.0.0.1:${port?.host}/`)
    expect(await page.text()).toBe('berth test page\n')
  })

  it('allocates a port from the range that neither the host nor another container uses, never the same twice', async () => {
    const range = portRange(4)
    await occupy(range.start)
    fixtures.run('-p', `${range.start + 1}:8080`, TEST_IMAGE, 'sleep', '60')

    const [first, second] = await Promise.all([
      call(
        'container.create',
        createArgs(fixtures, { ports: [{ container: 8080, protocol: 'tcp' }], port_range: range }),
      ),
      call(
        'container.create',
        createArgs(fixtures, { ports: [{ container: 8080, protocol: 'tcp' }], port_range: range }),
      ),
    ])
    const hosts = [first, second].map((d) => d.ports.find((p) => p.container === 8080)?.host)
    expect(hosts.sort()).toEqual([range.start + 2, range.start + 3])

    const full = await failureOf(
      'container.create',
      createArgs(fixtures, { ports: [{ container: 8080, protocol: 'tcp' }], port_range: range }),
    )
    expect(full).toMatchObject({ kind: 'conflict', details: { port_range: range } })
  })

  it('refuses a host port in use with conflict naming the port, and leaves no container behind', async () => {
    const { start: port } = portRange(1)
    await occupy(port)
    const name = randomName('berth-test-taken')
    const failure = await failureOf(
      'container.create',
      createArgs(fixtures, { name, ports: [{ host: port, container: 8080, protocol: 'tcp' }] }),
    )
    expect(failure).toEqual({
      kind: 'conflict',
      message: `host port ${port}/tcp is already in use`,
      details: { port },
    })
    expect(inspectCli(name)).toBeNull()
  })

  it('removes the container it made when it cannot start', async () => {
    const name = randomName('berth-test-late')
    // Docker creates a container whatever its command; only starting it finds the program missing.
    const failure = await failureOf(
      'container.create',
      createArgs(fixtures, { name, cmd: ['/berth-no-such-program'] }),
    )
    expect(failure).toMatchObject({
      kind: 'validation_error',
      message: expect.stringContaining('/berth-no-such-program'),
    })
    expect(inspectCli(name)).toBeNull()
  })

  it('never pulls: an image not on the host is not_found', async () => {
    const name = randomName('berth-test-noimage')
    const failure = await failureOf(
      'container.create',
      createArgs(fixtures, { name, image: 'berth-test/not-here:1' }),
    )
    expect(failure).toEqual({
      kind: 'not_found',
      message: 'the image berth-test/not-here:1 is not on this host; pull it first',
    })
    expect(inspectCli(name)).toBeNull()
  })

  it('refuses a name in use with conflict', async () => {
    const name = randomName('berth-test-twice')
    await call('container.create', createArgs(fixtures, { name, start: false }))
    const failure = await failureOf('container.create', createArgs(fixtures, { name }))
    expect(failure).toMatchObject({ kind: 'conflict', message: expect.stringContaining('is already in use') })
  })

  it('leaves a container created and not started when start is false', async () => {
    const detail = await call(
      'container.create',
      createArgs(fixtures, {
        start: false,
        ports: [{ host: portRange(1).start, container: 80, protocol: 'udp' }],
      }),
    )
    expect(detail).toMatchObject({ status: 'created', started_at: null, exit_code: null })
    expect(detail.ports).toEqual([
      { host: expect.any(Number), container: 80, protocol: 'udp', host_ip: null },
    ])
  })
})

describe('container.inspect and container.list', { timeout: 30_000 }, () => {
  it('finds a container by name, id or id prefix, and reports how it exited', async () => {
    const name = randomName('berth-test-exit')
    const id = fixtures.run('--name', name, TEST_IMAGE, 'sh', '-c', 'exit 3')
    dockerCli('wait', id)
    const byName = await call('container.inspect', { ref: name })
    const byPrefix = await call('container.inspect', { ref: id.slice(0, 12) })
    expect(byName).toEqual(byPrefix)
    expect(byName).toMatchObject({
      docker_id: id,
      name,
      status: 'exited',
      exit_code: 3,
      cmd: ['sh', '-c', 'exit 3'],
    })
    expect(byName.started_at).toEqual(expect.any(Number))
    expect(byName.finished_at).toEqual(expect.any(Number))

    const { containers } = await call('container.list', {})
    expect(containers.find((c) => c.docker_id === id)).toMatchObject({ name, status: 'exited', exit_code: 3 })
  })

  it('answers not_found for a container that does not exist', async () => {
    expect(await failureOf('container.inspect', { ref: 'berth-test-nobody' })).toMatchObject({
      kind: 'not_found',
      message: expect.stringContaining('No such container'),
    })
  })
})

describe('container.action', { timeout: 30_000 }, () => {
  it('moves a container through its states, treating a repeated start or stop as done', async () => {
    const { docker_id: ref } = await call('container.create', createArgs(fixtures))
    const act = (action: OpArgs<'container.action'>['action'], extra = {}) =>
      call('container.action', { ref, action, ...extra })

    expect((await act('stop', { timeout: 0 })).status).toBe('exited')
    expect((await act('stop', { timeout: 0 })).status).toBe('exited')
    expect((await act('start')).status).toBe('running')
    expect((await act('start')).status).toBe('running')
    expect((await act('pause')).status).toBe('paused')
    expect(await failureOf('container.action', { ref, action: 'pause' })).toMatchObject({
      kind: 'state_error',
    })
    expect((await act('unpause')).status).toBe('running')
    expect(await failureOf('container.action', { ref, action: 'unpause' })).toMatchObject({
      kind: 'state_error',
      message: expect.stringContaining('is not paused'),
    })
    expect((await act('restart', { timeout: 0 })).status).toBe('running')
    const killed = await act('kill', { signal: 'SIGKILL' })
    expect(killed).toMatchObject({ status: 'exited', exit_code: 137 })
    expect(await failureOf('container.action', { ref, action: 'kill' })).toMatchObject({
      kind: 'state_error',
      message: expect.stringContaining('is not running'),
    })
  })
})

describe('container.update and container.remove', { timeout: 30_000 }, () => {
  it('changes limits live, memory without extra swap', async () => {
    const { docker_id: ref } = await call(
      'container.create',
      createArgs(fixtures, { resources: { memory: 64 * 1024 * 1024 } }),
    )
    const detail = await call('container.update', {
      ref,
      resources: { cpus: 1.5, memory: 128 * 1024 * 1024, pids: 100 },
    })
    expect(detail).toMatchObject({
      status: 'running',
      resources: { cpus: 1.5, memory: 128 * 1024 * 1024, pids: 100 },
    })
    expect(inspectCli(ref)?.HostConfig).toMatchObject({
      NanoCpus: 1_500_000_000,
      Memory: 128 * 1024 * 1024,
      MemorySwap: 128 * 1024 * 1024,
      PidsLimit: 100,
    })
  })

  it('removes a container, refusing a running one without force', async () => {
    const { docker_id: ref, name } = await call('container.create', createArgs(fixtures))
    expect(await failureOf('container.remove', { ref: name, force: false, volumes: false })).toMatchObject({
      kind: 'state_error',
      message: expect.stringContaining('cannot remove a running container'),
    })
    expect(await call('container.remove', { ref: name, force: true, volumes: true })).toEqual({
      docker_id: ref,
    })
    expect(inspectCli(ref)).toBeNull()
  })
})
