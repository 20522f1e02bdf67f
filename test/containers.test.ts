import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, dockerInspect, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { createUser, registerAdmin, startServerWithAgent } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { openSse } from './support/sse.ts'
import { type ApiTarget, startApi } from './support/target.ts'

const MiB = 1024 * 1024
/** Stats come fast and are kept briefly here, so sampling and pruning are both seen in seconds. */
const STATS_INTERVAL_MS = 500
const STATS_RETENTION_S = 4

let api: ApiTarget
let admin: string
let member: { token: string }
let serverId: string
let agent: Child
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`

beforeAll(async () => {
  api = await startApi({
    env: {
      BERTH_STATS_INTERVAL_MS: String(STATS_INTERVAL_MS),
      BERTH_STATS_RETENTION_S: String(STATS_RETENTION_S),
      BERTH_MAINTENANCE_MS: '500',
    },
  })
  admin = await registerAdmin(api.http)
  member = await createUser(api.http, admin, 'member')
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'docker-host'))
})

afterAll(async () => {
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await api?.stop()
})

const path = (rest = '') => `/servers/${serverId}/containers${rest}`
// The shell traps TERM so a stop or recreate does not wait out Docker's grace period.
const httpCmd = [
  'sh',
  '-c',
  'echo hello-out; echo hello-err >&2; trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait',
]

/** Containers on the host that this run made, as `docker ps -a` sees them. */
const hostContainers = () => docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean)

async function create(body: Record<string, unknown>, token = admin) {
  const res = await api.http.post(path(), { token, body: { image: TEST_IMAGE, ...body } })
  expect(res.status, res.text).toBe(201)
  return res.body.container
}

describe('container lifecycle', () => {
  test('create with limits, env, tags and an allocated port; it serves, logs and reports stats', async () => {
    const c = await create({
      name: name('web'),
      cmd: httpCmd,
      env: { GREETING: 'hi', API_TOKEN: 'tok-123' },
      tags: ['web', 'blue'],
      resources: { cpus: 0.5, memory: '64m', pids: 100 },
      ports: [{ container: 8080 }],
    })
    expect(c).toMatchObject({ name: name('web'), status: 'running', tags: ['web', 'blue'], managed: true })
    expect(c.id).toMatch(/^ctr_/)
    const hostPort = c.ports[0].host
    expect(hostPort).toBeGreaterThanOrEqual(20000)
    expect(hostPort).toBeLessThanOrEqual(29999)

    const inspected = dockerInspect(c.docker_id)
    expect(inspected.HostConfig.NanoCpus).toBe(500_000_000)
    expect(inspected.HostConfig.Memory).toBe(64 * MiB)
    expect(inspected.HostConfig.PidsLimit).toBe(100)
    expect(inspected.Config.Labels['berth.id']).toBe(c.id)

    const page = await waitFor('the app to answer on its port', async () => {
      const res = await fetch(`http://127.0.0.1:${hostPort}/`)
      return res.ok ? res.text() : undefined
    })
    expect(page).toContain('berth test page')

    const logs = await api.http.get(path(`/${c.id}/logs`), { token: admin })
    expect(logs.status).toBe(200)
    expect(logs.body.logs).toEqual(
      expect.arrayContaining([
        { stream: 'stdout', line: 'hello-out' },
        { stream: 'stderr', line: 'hello-err' },
      ]),
    )

    const shown = await api.http.get(path(`/${c.id}`), { token: member.token })
    expect(shown.body.container.env).toMatchObject({ GREETING: 'hi', API_TOKEN: '********' })
    // A member may reveal: it could open a terminal in the container and read them there.
    const revealed = await api.http.get(path(`/${c.id}?reveal=true`), { token: member.token })
    expect(revealed.body.container.env.API_TOKEN).toBe('tok-123')
    // The same container by Docker id, a short one, and by name.
    expect((await api.http.get(path(`/${c.docker_id}`), { token: admin })).body.container.id).toBe(c.id)
    const short = await api.http.get(path(`/${c.docker_id.slice(0, 12)}`), { token: admin })
    expect(short.body.container).toMatchObject({ id: c.id, docker_id: c.docker_id })
    expect((await api.http.get(path(`/${name('web')}`), { token: admin })).body.container.id).toBe(c.id)

    const stats = await api.http.get(path(`/${c.id}/stats`), { token: admin })
    expect(stats.status, stats.text).toBe(200)
    expect(stats.body.stats.memory.used).toBeGreaterThan(0)
    expect(stats.body.stats.memory.limit).toBe(64 * MiB)
    expect(stats.body.stats.cpu.limit).toBe(0.5)
    expect(stats.body.stats.pids).toBeGreaterThanOrEqual(1)
    expect(stats.body.stats.cpu.percent).toBeGreaterThanOrEqual(0)
  })

  test('every action reaches its documented state', async () => {
    const c = await create({ name: name('acts'), cmd: ['sleep', '3600'] })
    const act = async (action: string, body?: unknown) => {
      const res = await api.http.post(path(`/${c.id}/${action}`), { token: member.token, body })
      expect(res.status, `${action}: ${res.text}`).toBe(200)
      return res.body.container
    }
    expect((await act('pause')).status).toBe('paused')
    expect(dockerInspect(c.docker_id).State.Paused).toBe(true)
    expect((await act('unpause')).status).toBe('running')
    const again = await api.http.post(path(`/${c.id}/unpause`), { token: admin })
    expect(again.status).toBe(422)
    expect(again.body.error).toBe('state_error')
    expect((await act('stop', { timeout: 1 })).status).toBe('exited')
    expect(dockerInspect(c.docker_id).State.Running).toBe(false)
    expect((await act('start')).status).toBe('running')
    expect((await act('start')).status).toBe('running') // already running: no-op success
    const before = dockerInspect(c.docker_id).State.StartedAt
    expect((await act('restart', { timeout: 1 })).status).toBe('running')
    expect(dockerInspect(c.docker_id).State.StartedAt).not.toBe(before)
    const killed = await act('kill', { signal: 'SIGKILL' })
    expect(killed.status).toBe('exited')
    expect(killed.exit_code).toBe(137)

    expect((await api.http.delete(path(`/${c.id}`), { token: admin })).status).toBe(204)
    expect(dockerInspect(c.docker_id)).toBeNull()
    expect((await api.http.get(path(`/${c.id}`), { token: admin })).status).toBe(404)
  })

  test('env changes recreate the container in place; resources change live', async () => {
    const c = await create({
      name: name('recreate'),
      cmd: httpCmd,
      env: { KEEP: '1', DROP: '2' },
      ports: [{ container: 8080 }],
      volumes: [{ source: name('data'), target: '/data' }],
    })
    const hostPort = c.ports[0].host
    const patched = await api.http.patch(path(`/${c.id}`), {
      token: member.token,
      body: { env: { DROP: null, ADD: '3' } },
    })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.body.recreated).toBe(true)
    const after = patched.body.container
    expect(after.id).toBe(c.id)
    expect(after.docker_id).not.toBe(c.docker_id)
    expect(after).toMatchObject({ name: name('recreate'), status: 'running' })
    expect(after.env).toMatchObject({ KEEP: '1', ADD: '3' })
    expect(after.env.DROP).toBeUndefined()
    expect(after.ports[0].host).toBe(hostPort)
    expect(after.mounts).toEqual([expect.objectContaining({ name: name('data'), target: '/data' })])
    expect(dockerInspect(c.docker_id)).toBeNull()
    expect(dockerInspect(after.docker_id).Config.Env).toEqual(expect.arrayContaining(['KEEP=1', 'ADD=3']))

    const started = dockerInspect(after.docker_id).State.StartedAt
    const resized = await api.http.patch(path(`/${c.id}`), {
      token: member.token,
      body: { resources: { memory: '128m', cpus: 1 } },
    })
    expect(resized.status, resized.text).toBe(200)
    expect(resized.body.recreated).toBe(false)
    const live = dockerInspect(after.docker_id)
    expect(live.HostConfig.Memory).toBe(128 * MiB)
    expect(live.HostConfig.NanoCpus).toBe(1_000_000_000)
    expect(live.State.StartedAt).toBe(started)

    const retagged = await api.http.patch(path(`/${c.id}`), {
      token: member.token,
      body: { tags: ['green'] },
    })
    expect(retagged.body.container.tags).toEqual(['green'])
    const list = await api.http.get(path('?tag=green'), { token: admin })
    expect(list.body.containers.map((x: { id: string }) => x.id)).toEqual([c.id])

    const moved = await api.http.request('PUT', path(`/${c.id}/ports`), {
      token: member.token,
      body: { ports: [{ container: 8080 }, { container: 9090, protocol: 'udp' }] },
    })
    expect(moved.status, moved.text).toBe(200)
    expect(moved.body.recreated).toBe(true)
    expect(moved.body.container.ports).toHaveLength(2)
  })
})

describe('logs', () => {
  test('follow over SSE tells stdout from stderr, and a client that leaves releases the stream on the host', async () => {
    const c = await create({
      name: name('chatty'),
      cmd: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo out-$i; echo err-$i >&2; sleep 0.1; done'],
    })
    const sse = await openSse(`${api.url}/api/v1${path(`/${c.id}/logs?follow=true&tail=0`)}`, admin)
    expect(sse.status).toBe(200)
    expect(sse.headers.get('content-type')).toContain('text/event-stream')
    await waitFor(
      'a few log lines',
      () =>
        sse.events.filter((e) => e.event === 'stdout').length >= 3 &&
        sse.events.some((e) => e.event === 'stderr'),
    )
    const out = sse.events.find((e) => e.event === 'stdout')!
    expect(JSON.parse(out.data)).toEqual({ stream: 'stdout', line: expect.stringMatching(/^out-\d+$/) })
    expect(
      (await api.http.get(`/servers/${serverId}/agent`, { token: admin })).body.agent.open_streams,
    ).toBeGreaterThanOrEqual(1)
    sse.close()
    await waitFor('the agent to release the log stream', async () => {
      const res = await api.http.get(`/servers/${serverId}/agent`, { token: admin })
      return res.body.agent.open_streams === 0
    })
  })

  test('a followed log ends when the container stops', async () => {
    const c = await create({
      name: name('ends'),
      cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'],
    })
    const sse = await openSse(`${api.url}/api/v1${path(`/${c.id}/logs?follow=true`)}`, admin)
    await waitFor('a line', () => sse.events.length > 0)
    await api.http.post(path(`/${c.id}/stop`), { token: admin, body: { timeout: 0 } })
    await waitFor('the stream to end', () => sse.ended)
    expect(sse.events.at(-1)?.event).toBe('end')
  })
})

describe('inventory', () => {
  test('pages over 60 containers with filters; concurrent creates neither skip nor repeat', async () => {
    const made: { id: string; name: string }[] = []
    for (let i = 0; i < 60; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          create({
            name: name(`page-${String(i + j).padStart(2, '0')}`),
            cmd: ['sleep', '3600'],
            tags: (i + j) % 2 ? ['odd'] : ['even'],
            start: (i + j) % 3 === 0,
          }),
        ),
      )
      made.push(...batch)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    const extra: Promise<unknown>[] = []
    do {
      const q: string = `?name=${name('page-')}&limit=7${cursor ? `&cursor=${cursor}` : ''}`
      const res = await api.http.get(path(q), { token: admin })
      expect(res.status).toBe(200)
      expect(res.body.stale).toBe(false)
      seen.push(...res.body.containers.map((x: { id: string }) => x.id))
      cursor = res.body.next_cursor
      // New containers arrive while the client pages.
      if (pages++ < 3)
        extra.push(create({ name: name(`page-extra-${pages}`), cmd: ['sleep', '3600'], start: false }))
    } while (cursor)
    await Promise.all(extra)
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen).toEqual(expect.arrayContaining(made.map((m) => m.id)))

    const odd = await api.http.get(path(`?tag=odd&name=${name('page-')}&limit=200`), { token: admin })
    expect(odd.body.containers).toHaveLength(30)
    const running = await api.http.get(path(`?status=running&name=${name('page-')}&limit=200`), {
      token: admin,
    })
    expect(running.body.containers).toHaveLength(20)
    const both = await api.http.get(path(`?status=running,created&name=${name('page-')}&limit=200`), {
      token: admin,
    })
    expect(both.body.containers.length).toBeGreaterThanOrEqual(60)
  })

  test('containers made outside Berth are listed, marked, and leave when removed', async () => {
    const external = name('outside')
    const dockerId = docker('run', '-d', '--name', external, TEST_IMAGE, 'sleep', '3600')
    const found = await waitFor('the container to appear', async () => {
      const res = await api.http.get(path(`?name=${external}`), { token: admin })
      return res.body.containers[0]
    })
    expect(found).toMatchObject({ docker_id: dockerId, managed: false, status: 'running', name: external })
    docker('rm', '-f', external)
    await waitFor('the container to leave the list', async () => {
      const res = await api.http.get(path(`?name=${external}`), { token: admin })
      return res.body.containers.length === 0
    })
  })
})

describe('stats history', () => {
  test('the series holds the samples with network deltas, and old samples are pruned', async () => {
    const c = await create({ name: name('stats'), cmd: ['sleep', '3600'] })
    const history = await waitFor(
      'a few sampling rounds',
      async () => {
        const res = await api.http.get(path(`/${c.id}/stats/history`), { token: admin })
        return res.body.samples.length >= 4 ? res.body.samples : undefined
      },
      20_000,
    )
    for (let i = 1; i < history.length; i++) {
      expect(history[i].network.rx_delta).toBe(history[i].network.rx - history[i - 1].network.rx)
      expect(history[i].network.tx_delta).toBe(history[i].network.tx - history[i - 1].network.tx)
      expect(history[i].timestamp).toBeGreaterThanOrEqual(history[i - 1].timestamp)
      expect(history[i].memory.used).toBeGreaterThan(0)
      expect(history[i].cpu.limit).toBeGreaterThan(0)
    }
    const since = history.at(-1).timestamp
    const later = await api.http.get(path(`/${c.id}/stats/history?since=${since}`), { token: admin })
    expect(later.body.samples.every((s: { timestamp: number }) => s.timestamp >= since)).toBe(true)

    // The first sample seen is pruned once it is older than the retention.
    const first = Number(history[0].timestamp)
    await waitFor(
      'the first sample to be pruned',
      async () => {
        const [row] = await api.sql<{ oldest: number }>('select min(at) as oldest from container_stats')
        return Number(row?.oldest) > first
      },
      (STATS_RETENTION_S + 20) * 1000,
      500,
    )
    const rows = await api.sql<{ oldest: number }>('select min(at) as oldest from container_stats')
    expect(Date.now() - Number(rows[0]?.oldest)).toBeLessThan((STATS_RETENTION_S + 2) * 1000)
  })
})

describe('bad input', () => {
  test('each mistake gets its status and leaves nothing on the host', async () => {
    const before = hostContainers().length
    const bad = async (body: Record<string, unknown>, status: number, error: string, token = admin) => {
      const res = await api.http.post(path(), { token, body: { image: TEST_IMAGE, ...body } })
      expect(res.status, res.text).toBe(status)
      expect(res.body.error).toBe(error)
      return res.body
    }
    await bad({ name: name('mem'), resources: { memory: 'lots' } }, 400, 'validation_error')
    await bad({ name: name('cpu'), resources: { cpus: -1 } }, 400, 'validation_error')
    await bad({ name: 'bad name!' }, 400, 'validation_error')
    await bad({ name: name('img'), image: 'berth-test/does-not-exist:1' }, 404, 'not_found')
    await bad(
      { name: name('hostpath'), volumes: [{ source: '/etc', target: '/host-etc' }] },
      403,
      'forbidden',
      member.token,
    )
    await bad({ name: name('reserved'), labels: { 'berth.id': 'ctr_fake' } }, 400, 'validation_error')

    await create({ name: name('dupe'), cmd: ['sleep', '3600'], start: false })
    await bad({ name: name('dupe') }, 409, 'conflict')

    const taken: Server = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve))
    const port = (taken.address() as { port: number }).port
    try {
      const body = await bad(
        { name: name('port'), cmd: ['sleep', '3600'], ports: [{ host: port, container: 80 }] },
        409,
        'conflict',
      )
      expect(body.details).toMatchObject({ port })
    } finally {
      taken.close()
    }
    expect((await api.http.get(path('/ctr_00000000000000000000000000'), { token: admin })).status).toBe(404)
    expect((await api.http.post(path('/nope-nope/start'), { token: admin })).status).toBe(404)
    expect((await api.http.get(`/servers/srv_nope/containers`, { token: admin })).status).toBe(404)
    expect(hostContainers().length).toBe(before + 1) // only the first of the duplicates
  })
})
