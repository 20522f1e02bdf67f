import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { createUser, registerAdmin } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { connectRealtime, type Frame } from './support/realtime.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// The `servers` channel: every server's changes on one subscription, with a real agent.

let api: ApiTarget
let admin: string
let viewer: string
const agents: Child[] = []
const run = Math.random().toString(36).slice(2, 7)

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  viewer = (await createUser(api.http, admin, 'viewer')).token
})

afterAll(async () => {
  for (const agent of agents) await agent.stop()
  await api?.stop()
})

const serverEvent = (frames: Frame[], id: string, match: (server: any) => boolean) =>
  frames.find((f) => f.channel === 'servers' && f.event === 'server' && f.data.id === id && match(f.data))

test('a viewer sees a new server, and its agent connecting, on the servers channel', async () => {
  const rt = await connectRealtime(api.url, { protocols: ['berth.v1', `bearer.${viewer}`] })
  expect((await rt.subscribe('servers')).type).toBe('subscribed')
  const created = await api.http.post('/servers', { token: admin, body: { name: `t${run}-new` } })
  expect(created.status, created.text).toBe(201)
  const id: string = created.body.server.id
  const pending = await waitFor('the new server', () => serverEvent(rt.frames, id, () => true))
  expect(pending.data).toMatchObject({ id, name: `t${run}-new`, status: 'pending', last_seen_at: null })

  const stateDir = mkdtempSync(join(os.tmpdir(), 'berth-agent-'))
  agents.push(startAgentProcess({ api: api.url, token: created.body.enrollment.token, stateDir }))
  const online = await waitFor(
    'the server online',
    () => serverEvent(rt.frames, id, (s) => s.status === 'online'),
    20_000,
  )
  // What the agent said of its host comes with the status, as the list shows it.
  expect(online.data.agent).toMatchObject({ version: expect.any(String), arch: expect.stringMatching(/\S/) })
  expect(online.data.last_seen_at).toEqual(expect.any(String))
  const listed = await api.http.get('/servers', { token: viewer })
  const { last_seen_at: _, ...shown } = listed.body.servers.find((s: { id: string }) => s.id === id)
  expect(online.data).toEqual({ ...shown, last_seen_at: expect.any(String) })
  rt.ws.close()
})

test('a renamed server and a removed one are events on the servers channel', async () => {
  const created = await api.http.post('/servers', { token: admin, body: { name: `t${run}-old` } })
  expect(created.status, created.text).toBe(201)
  const id: string = created.body.server.id
  const rt = await connectRealtime(api.url, { token: admin })
  expect((await rt.subscribe('servers')).type).toBe('subscribed')
  const renamed = await api.http.patch(`/servers/${id}`, { token: admin, body: { name: `t${run}-renamed` } })
  expect(renamed.status, renamed.text).toBe(200)
  await waitFor('the new name', () => serverEvent(rt.frames, id, (s) => s.name === `t${run}-renamed`))

  const removed = await api.http.delete(`/servers/${id}`, { token: admin })
  expect(removed.status, removed.text).toBe(204)
  const gone = await rt.waitEvent('servers', 'removed')
  expect(gone.data).toEqual({ id })
  rt.ws.close()
})
