import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { expectErrorBody, registerAdmin, startServerWithAgent } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { connectRealtime } from './support/realtime.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Every server's containers in one list, and the realtime feeds that keep a table of them current.

let api: ApiTarget
let admin: string
let serverId: string
let idleServerId: string
let agent: Child
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`
const loop = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done']

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'all-host'))
  const idle = await api.http.post('/servers', { token: admin, body: { name: 'all-idle' } })
  expect(idle.status, idle.text).toBe(201)
  idleServerId = idle.body.server.id
})

afterAll(async () => {
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await api?.stop()
})

async function create(what: string, tags: string[] = []) {
  const res = await api.http.post(`/servers/${serverId}/containers`, {
    token: admin,
    body: { image: TEST_IMAGE, name: name(what), cmd: loop, tags },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.container
}

describe('GET /containers', () => {
  test('lists every server’s containers with their server, filtered like a server’s list', async () => {
    const web = await create('web', ['web'])
    const worker = await create('worker')
    const stopped = await api.http.post(`/servers/${serverId}/containers/${worker.id}/stop`, {
      token: admin,
      body: { timeout: 0 },
    })
    expect(stopped.status, stopped.text).toBe(200)

    const all = await api.http.get(`/containers?name=t${run}-`, { token: admin })
    expect(all.status, all.text).toBe(200)
    expect(all.body.next_cursor).toBeNull()
    const mine = all.body.containers.map((c: any) => [c.name, c.server_id, c.status])
    expect(mine).toEqual(
      expect.arrayContaining([
        [name('web'), serverId, 'running'],
        [name('worker'), serverId, 'exited'],
      ]),
    )
    const running = await api.http.get(`/containers?name=t${run}-&status=running`, { token: admin })
    expect(running.body.containers.map((c: any) => c.id)).toEqual([web.id])
    const tagged = await api.http.get(`/containers?tag=web&server_id=${serverId}`, { token: admin })
    expect(tagged.body.containers.map((c: any) => c.id)).toEqual([web.id])
    const idle = await api.http.get(`/containers?server_id=${idleServerId}`, { token: admin })
    expect(idle.body).toEqual({ containers: [], next_cursor: null })
  })

  test('pages by cursor', async () => {
    await create('page-a')
    await create('page-b')
    const first = await api.http.get(`/containers?name=t${run}-page-&limit=1`, { token: admin })
    expect(first.body.containers).toHaveLength(1)
    const second = await api.http.get(
      `/containers?name=t${run}-page-&limit=1&cursor=${first.body.next_cursor}`,
      { token: admin },
    )
    expect(second.body.containers).toHaveLength(1)
    expect(second.body.containers[0].id).not.toBe(first.body.containers[0].id)
  })

  test('an unknown server is 404, a limit beyond 2000 is 400, and no token is 401', async () => {
    expectErrorBody(await api.http.get('/containers?server_id=srv_nope', { token: admin }), 404, 'not_found')
    expectErrorBody(await api.http.get('/containers?limit=2001', { token: admin }), 400, 'validation_error')
    expectErrorBody(await api.http.get('/containers'), 401, 'auth_error')
  })
})

describe('the containers channels', () => {
  test('a state change and a removal arrive on the server’s channel and on every server’s', async () => {
    const c = await create('live')
    const rt = await connectRealtime(api.url, { token: admin })
    const one = `server:${serverId}:containers`
    expect((await rt.subscribe(one)).type).toBe('subscribed')
    expect((await rt.subscribe('containers')).type).toBe('subscribed')
    const stop = await api.http.post(`/servers/${serverId}/containers/${c.id}/stop`, {
      token: admin,
      body: { timeout: 0 },
    })
    expect(stop.status, stop.text).toBe(200)
    for (const channel of [one, 'containers']) {
      // The host's other containers have events too: this one's is picked out.
      const changed = await waitFor(`the stop on ${channel}`, () =>
        rt.events(channel, 'container').find((f) => f.data.id === c.id && f.data.status === 'exited'),
      )
      expect(changed.data).toMatchObject({ server_id: serverId, name: name('live'), image: TEST_IMAGE })
    }
    const removed = await api.http.delete(`/servers/${serverId}/containers/${c.id}`, { token: admin })
    expect(removed.status, removed.text).toBe(204)
    for (const channel of [one, 'containers']) {
      await waitFor(`the removal on ${channel}`, () =>
        rt.events(channel, 'removed').find((f) => f.data.id === c.id && f.data.server_id === serverId),
      )
    }
    rt.ws.close()
  })

  test('a server that does not exist is an error frame, and the socket stays open', async () => {
    const rt = await connectRealtime(api.url, { token: admin })
    const answer = await rt.subscribe('server:srv_nope:containers')
    expect(answer).toMatchObject({ type: 'error', error: { error: 'not_found' } })
    expect((await rt.subscribe('containers')).type).toBe('subscribed')
    rt.ws.close()
  })
})
