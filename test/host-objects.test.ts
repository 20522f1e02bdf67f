import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { registerAdmin, startServerWithAgent, waitForServerStatus } from './support/flows.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// A server's images, volumes and networks, and what its containers look like with the agent gone.

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`
const path = (rest = '') => `/servers/${serverId}/containers${rest}`

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'objects-host'))
})

afterAll(async () => {
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await api?.stop()
})

describe('host objects', () => {
  test('images, volumes and networks', async () => {
    const images = await api.http.get(`/servers/${serverId}/images`, { token: admin })
    expect(images.status).toBe(200)
    expect(images.body.images.some((i: { tags: string[] }) => i.tags.includes(TEST_IMAGE))).toBe(true)

    const pull = await api.http.post(`/servers/${serverId}/images/pull`, {
      token: admin,
      body: { image: 'registry.invalid/berth/none:1' },
    })
    expect(pull.status).toBe(502)
    expect(pull.body.error).toBe('agent_error')
    expect(pull.body.details.message).toEqual(expect.any(String))

    const volume = await api.http.post(`/servers/${serverId}/volumes`, {
      token: admin,
      body: { name: name('vol') },
    })
    expect(volume.status, volume.text).toBe(201)
    expect(docker('volume', 'ls', '-q')).toContain(name('vol'))
    const volumes = await api.http.get(`/servers/${serverId}/volumes`, { token: admin })
    expect(volumes.body.volumes.map((v: { name: string }) => v.name)).toContain(name('vol'))
    expect(
      (await api.http.delete(`/servers/${serverId}/volumes/${name('vol')}`, { token: admin })).status,
    ).toBe(204)
    expect(docker('volume', 'ls', '-q')).not.toContain(name('vol'))

    const network = await api.http.post(`/servers/${serverId}/networks`, {
      token: admin,
      body: { name: name('net') },
    })
    expect(network.status, network.text).toBe(201)
    expect(docker('network', 'ls', '--format', '{{.Name}}')).toContain(name('net'))
    const networks = await api.http.get(`/servers/${serverId}/networks`, { token: admin })
    expect(networks.body.networks.map((n: { name: string }) => n.name)).toContain(name('net'))
    expect(
      (await api.http.delete(`/servers/${serverId}/networks/${name('net')}`, { token: admin })).status,
    ).toBe(204)

    const prune = await api.http.post(`/servers/${serverId}/volumes/prune`, { token: admin })
    expect(prune.status).toBe(200)
    expect(prune.body.deleted).toEqual(expect.any(Array))
  })
})

// Last: it stops the agent.
test('with the agent stopped, the list still answers, marked stale; actions are 503', async () => {
  const created = await api.http.post(path(), {
    token: admin,
    body: { image: TEST_IMAGE, name: name('offline'), cmd: ['sleep', '3600'] },
  })
  expect(created.status, created.text).toBe(201)
  const c = created.body.container
  await agent.stop()
  await waitForServerStatus(api.http, admin, serverId, 'offline')
  const list = await api.http.get(path(`?name=${name('offline')}`), { token: admin })
  expect(list.status).toBe(200)
  expect(list.body.stale).toBe(true)
  expect(list.body.containers[0]).toMatchObject({
    id: c.id,
    status: 'running',
    observed_at: expect.any(String),
  })
  // Inspect answers from the copy too, by Berth id or by name, marked stale.
  for (const ref of [c.id, name('offline')]) {
    const one = await api.http.get(path(`/${ref}`), { token: admin })
    expect(one.status, one.text).toBe(200)
    expect(one.body.container).toMatchObject({ id: c.id, status: 'running', stale: true })
  }
  const start = await api.http.post(path(`/${c.id}/start`), { token: admin })
  expect(start.status).toBe(503)
  expect(start.body.error).toBe('agent_offline')
})
