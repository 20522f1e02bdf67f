import { afterAll, beforeAll, expect, test } from 'vitest'
import { TEST_IMAGE } from './support/docker.ts'
import { type ContainerHost, createUser, startContainerHost } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { connectRealtime, type RealtimeAuth } from './support/realtime.ts'
import type { ApiTarget } from './support/target.ts'

// The realtime socket with a real agent and a real container that keeps writing lines.

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
let containerId: string
const run = Math.random().toString(36).slice(2, 7)

let host: ContainerHost

beforeAll(async () => {
  host = await startContainerHost(
    'realtime-host',
    [
      '--name',
      `t${run}-talker`,
      TEST_IMAGE,
      'sh',
      '-c',
      'trap "exit 0" TERM; i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done',
    ],
    { env: { BERTH_STATS_INTERVAL_MS: '500' } },
  )
  ;({ api, admin, serverId, agent, containerId } = host)
})

afterAll(() => host?.stop())

const connect = (auth: RealtimeAuth) => connectRealtime(api.url, auth)

const openStreams = async () =>
  (await api.http.get(`/servers/${serverId}/agent`, { token: admin })).body.agent.open_streams as number

test('a container’s log lines and stats, and a server’s state, arrive as events', async () => {
  const rt = await connect({ token: admin })
  const logs = `container:${serverId}:${containerId}:logs`
  const stats = `container:${serverId}:${containerId}:stats`
  const server = `server:${serverId}`
  expect((await rt.subscribe(server)).type).toBe('subscribed')
  expect((await rt.subscribe(logs)).type).toBe('subscribed')
  expect((await rt.subscribe(stats)).type).toBe('subscribed')
  expect((await rt.waitEvent(server, 'online')).data.status).toBe('online')
  await waitFor('three log lines', () => rt.events(logs, 'log').length >= 3)
  expect(rt.events(logs, 'log')[0]!.data).toMatchObject({
    stream: 'stdout',
    line: expect.stringMatching(/^line-\d+$/),
  })
  const sample = await rt.waitEvent(stats, 'stats')
  expect(sample.data).toMatchObject({ cpu: expect.any(Object), memory: expect.any(Object) })
  const resources = await rt.waitEvent(server, 'resources')
  expect(resources.data.cpus).toBeGreaterThan(0)

  // The agent streams the logs only while somebody watches.
  expect(await openStreams()).toBeGreaterThan(0)
  rt.send({ type: 'unsubscribe', channel: logs })
  await waitFor('the log stream to stop on the host', async () => (await openStreams()) === 0)
  rt.ws.close()
})

test('an unknown channel or a bad frame is an error frame, and the socket stays open', async () => {
  const rt = await connect({ token: admin })
  expect((await rt.subscribe('nope:1')).error).toMatchObject({
    error: 'validation_error',
    code: 'unknown_channel',
  })
  expect((await rt.subscribe(`server:srv_${'0'.repeat(26)}`)).error?.error).toBe('not_found')
  rt.ws.send('not json')
  await waitFor('an error for the bad frame', () => rt.frames.filter((f) => f.type === 'error').length === 3)
  rt.send({ type: 'ping' })
  await waitFor('a pong', () => rt.frames.some((f) => f.type === 'pong'))
  rt.ws.close()
})

test('a viewer subscribes with a subprotocol, but not to what a viewer may not see', async () => {
  const viewer = await createUser(api.http, admin, 'viewer')
  const rt = await connect({ protocols: ['berth.v1', `bearer.${viewer.token}`] })
  expect(rt.ws.protocol).toBe('berth.v1')
  expect((await rt.subscribe('audit')).error?.error).toBe('forbidden')
  expect((await rt.subscribe(`server:${serverId}`)).type).toBe('subscribed')
  rt.ws.close()
  await expect(connect({})).rejects.toThrow('HTTP 401')

  // An admin sees the audit log as it is written.
  const adminRt = await connect({ token: admin })
  expect((await adminRt.subscribe('audit')).type).toBe('subscribed')
  await api.http.patch(`/servers/${serverId}`, { token: admin, body: { description: 'watched' } })
  const entry = await adminRt.waitEvent('audit', 'entry')
  expect(entry.data).toMatchObject({ action: 'PATCH /api/v1/servers/:id', target: serverId })
  adminRt.ws.close()
})

test('a deployment’s state changes and output arrive on its channel', async () => {
  // An image with no command: the deployment fails at once, which is all this needs to watch.
  const app = await api.http.post('/apps', {
    token: admin,
    body: { name: `t${run}-watched`, server_id: serverId, source: { type: 'image', image: TEST_IMAGE } },
  })
  expect(app.status, app.text).toBe(201)
  const deployed = await api.http.post(`/apps/${app.body.app.id}/deploy`, { token: admin })
  const channel = `deployment:${deployed.body.deployment.id}`
  const rt = await connect({ token: admin })
  expect((await rt.subscribe(channel)).type).toBe('subscribed')
  const final = await waitFor('a final state', () =>
    rt.events(channel, 'state').find((e) => ['running', 'failed'].includes(e.data.state)),
  )
  expect(final.data.state).toBe('failed')
  expect(rt.events(channel, 'log').length).toBeGreaterThan(0)
  rt.ws.close()
  await api.http.delete(`/apps/${app.body.app.id}`, { token: admin })
})

test('a server going offline is an event', async () => {
  const rt = await connect({ token: admin })
  const server = `server:${serverId}`
  await rt.subscribe(server)
  await rt.waitEvent(server, 'online')
  await agent.stop()
  expect((await rt.waitEvent(server, 'offline')).data.status).toBe('offline')
  rt.ws.close()
})
