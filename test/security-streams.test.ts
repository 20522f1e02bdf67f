import { afterAll, beforeAll, expect, test } from 'vitest'
import WebSocket from 'ws'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { type ContainerHost, createUser, startContainerHost } from './support/flows.ts'
import { waitFor } from './support/process.ts'
import { openSse } from './support/sse.ts'
import type { ApiTarget } from './support/target.ts'

// Open sockets and streams follow their owner's rights: revoking a token, disabling, demoting or
// deleting a user closes or narrows them at once. Each user holds a bounded number of them, and
// subscriptions to one container's logs, by any alias, share one stream on the host.

const MAX_SOCKETS = 3
const MAX_STREAMS = 5

let api: ApiTarget
let admin: string
let serverId: string
let containerId: string
const run = Math.random().toString(36).slice(2, 7)
const containerName = `t${run}-guarded`

let host: ContainerHost

beforeAll(async () => {
  host = await startContainerHost(
    'guarded-host',
    [
      '--name',
      containerName,
      TEST_IMAGE,
      'sh',
      '-c',
      'trap "exit 0" TERM; i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done',
    ],
    {
      env: {
        BERTH_MAX_SOCKETS_PER_USER: String(MAX_SOCKETS),
        BERTH_MAX_STREAMS_PER_USER: String(MAX_STREAMS),
      },
    },
  )
  ;({ api, admin, serverId, containerId } = host)
})

afterAll(() => host?.stop())

interface Frame {
  type: string
  channel?: string
  event?: string
  data?: any
  error?: { error: string; code: string; message: string; status: number; request_id: string }
}

/** A WebSocket as a client sees it: its frames, how it closed, or the HTTP answer that refused it. */
async function socket(path: string, token: string) {
  const ws = new WebSocket(`${api.url.replace(/^http/, 'ws')}/api/v1${path}`, {
    headers: { Authorization: `Bearer ${token}` },
  })
  const frames: Frame[] = []
  let closed: { code: number; reason: string } | null = null
  ws.on('message', (data) => frames.push(JSON.parse(String(data))))
  ws.on('close', (code, reason) => {
    closed = { code, reason: String(reason) }
  })
  const refusal = await new Promise<{ status: number; body: any } | null>((resolve, reject) => {
    ws.once('open', () => resolve(null))
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (d) => {
        text += String(d)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    ws.once('error', reject)
  })
  return {
    ws,
    frames,
    refusal,
    send: (frame: object) => ws.send(JSON.stringify(frame)),
    closed: () => waitFor('the socket to close', () => closed ?? undefined, 15_000, 20),
    errors: () => frames.filter((f) => f.type === 'error'),
    answer: (channel: string) =>
      waitFor(
        `the answer to subscribing to ${channel}`,
        () => frames.find((f) => f.channel === channel && (f.type === 'subscribed' || f.type === 'error')),
        10_000,
        20,
      ),
  }
}

const realtime = (token: string) => socket('/ws', token)

async function subscribe(rt: Awaited<ReturnType<typeof realtime>>, channel: string) {
  rt.send({ type: 'subscribe', channel })
  return rt.answer(channel)
}

/** A shell in the test's container, run through the terminal. */
const shell = (token: string) =>
  socket(
    `/servers/${serverId}/containers/${containerId}/exec?cmd=${encodeURIComponent('["sh"]')}&tty=false`,
    token,
  )

const exists = (path: string) => {
  try {
    docker('exec', containerId, 'test', '-e', path)
    return true
  } catch {
    return false
  }
}

/** Runs a command in an open shell and waits until the file it touches exists: the shell takes input. */
async function proveShell(t: Awaited<ReturnType<typeof shell>>, marker: string) {
  t.send({ type: 'stdin', data: `touch ${marker}\n` })
  await waitFor(`${marker} in the container`, () => exists(marker))
}

const expectErrorBody = (body: any, error: string, status: number) =>
  expect(body).toMatchObject({
    error,
    status,
    code: expect.any(String),
    message: expect.any(String),
    request_id: expect.stringMatching(/^req_/),
    timestamp: expect.any(String),
  })

const openStreams = async () =>
  (await api.http.get(`/servers/${serverId}/agent`, { token: admin })).body.agent.open_streams as number

async function memberToken(user: { token: string }, scopes: string[]) {
  const created = await api.http.post('/tokens', { token: user.token, body: { name: 'ci', scopes } })
  expect(created.status, created.text).toBe(201)
  return { id: created.body.token.id as string, value: created.body.token.value as string }
}

test('a terminal opened with an API token closes when the token is revoked, and runs nothing after', async () => {
  const member = await createUser(api.http, admin, 'member')
  const token = await memberToken(member, ['read', 'write'])
  const t = await shell(token.value)
  expect(t.refusal).toBeNull()
  await proveShell(t, `/tmp/${run}-before-revoke`)

  const revoked = await api.http.delete(`/tokens/${token.id}`, { token: member.token })
  expect(revoked.status).toBe(204)
  const after = `/tmp/${run}-after-revoke`
  t.send({ type: 'stdin', data: `touch ${after}\n` })

  expect(await t.closed()).toEqual({ code: 4401, reason: 'credential no longer valid' })
  expect(t.errors()).toHaveLength(1)
  expectErrorBody(t.errors()[0]!.error, 'auth_error', 401)
  // What was typed after the revocation never ran (the command typed before it did).
  expect(exists(after)).toBe(false)
})

test('a member demoted to viewer loses their terminal at once; their realtime socket keeps what a viewer sees', async () => {
  const member = await createUser(api.http, admin, 'member')
  const t = await shell(member.token)
  await proveShell(t, `/tmp/${run}-before-demote`)
  const rt = await realtime(member.token)
  const server = `server:${serverId}`
  expect((await subscribe(rt, server)).type).toBe('subscribed')

  const demoted = await api.http.patch(`/users/${member.id}`, { token: admin, body: { role: 'viewer' } })
  expect(demoted.status, demoted.text).toBe(200)
  const after = `/tmp/${run}-after-demote`
  t.send({ type: 'stdin', data: `touch ${after}\n` })

  expect(await t.closed()).toEqual({ code: 4403, reason: 'access no longer allowed' })
  expectErrorBody(t.errors()[0]!.error, 'forbidden', 403)
  expect(exists(after)).toBe(false)

  // The read subscription stays, and the socket goes on answering as a viewer's.
  rt.send({ type: 'ping' })
  await waitFor('a pong', () => rt.frames.some((f) => f.type === 'pong'))
  expect(rt.errors()).toEqual([])
  const logs = `container:${serverId}:${containerId}:logs`
  expect((await subscribe(rt, logs)).type).toBe('subscribed')
  await waitFor('a log line for the viewer', () =>
    rt.frames.some((f) => f.channel === logs && f.event === 'log'),
  )
  // And a terminal is now refused up front.
  expect((await shell(member.token)).refusal?.status).toBe(403)
  rt.ws.close()
})

test('an admin demoted to member loses the audit subscription and keeps the others', async () => {
  const second = await createUser(api.http, admin, 'admin')
  const rt = await realtime(second.token)
  const server = `server:${serverId}`
  expect((await subscribe(rt, 'audit')).type).toBe('subscribed')
  expect((await subscribe(rt, server)).type).toBe('subscribed')

  const demoted = await api.http.patch(`/users/${second.id}`, { token: admin, body: { role: 'member' } })
  expect(demoted.status, demoted.text).toBe(200)

  const ended = await waitFor('the audit subscription to end', () =>
    rt.errors().find((f) => f.channel === 'audit'),
  )
  expectErrorBody(ended.error, 'forbidden', 403)
  expect(rt.errors().filter((f) => f.channel === server)).toEqual([])
  // Subscribing again is refused; the socket itself stays open.
  rt.frames.length = 0
  expect((await subscribe(rt, 'audit')).error?.error).toBe('forbidden')
  rt.send({ type: 'ping' })
  await waitFor('a pong', () => rt.frames.some((f) => f.type === 'pong'))
  rt.ws.close()
})

test('disabling a user closes their realtime socket, audit subscription and all', async () => {
  const second = await createUser(api.http, admin, 'admin')
  const rt = await realtime(second.token)
  expect((await subscribe(rt, 'audit')).type).toBe('subscribed')

  const disabled = await api.http.patch(`/users/${second.id}`, { token: admin, body: { disabled: true } })
  expect(disabled.status, disabled.text).toBe(200)

  expect(await rt.closed()).toEqual({ code: 4401, reason: 'credential no longer valid' })
  expectErrorBody(rt.errors()[0]!.error, 'auth_error', 401)
  // Nothing of the audit log reached the disabled user after that.
  await api.http.patch(`/servers/${serverId}`, { token: admin, body: { description: `after ${run}` } })
  expect(rt.frames.filter((f) => f.channel === 'audit' && f.event === 'entry')).toEqual([])
})

test('changing your own password closes the terminal opened with the old session', async () => {
  const member = await createUser(api.http, admin, 'member')
  const t = await shell(member.token)
  expect(t.refusal).toBeNull()
  await proveShell(t, `/tmp/before-password-${run}`)

  const changed = await api.http.post('/auth/password', {
    token: member.token,
    body: { current_password: member.password, password: 'a brand new password' },
  })
  expect(changed.status, changed.text).toBe(200)
  // Typed as soon as the change is answered: by then the old session's terminal is shut.
  if (t.ws.readyState === WebSocket.OPEN)
    t.send({ type: 'stdin', data: `touch /tmp/after-password-${run}\n` })

  expect(await t.closed()).toEqual({ code: 4401, reason: 'credential no longer valid' })
  expect(exists(`/tmp/after-password-${run}`)).toBe(false)
  // The fresh session the change gave back works.
  expect((await api.http.get('/auth/me', { token: changed.body.token })).status).toBe(200)
})

test('an admin resetting a password closes the realtime socket of every old session', async () => {
  const viewer = await createUser(api.http, admin, 'viewer')
  const rt = await realtime(viewer.token)
  expect((await subscribe(rt, `server:${serverId}`)).type).toBe('subscribed')

  const reset = await api.http.patch(`/users/${viewer.id}`, {
    token: admin,
    body: { password: 'reset by the admin 123' },
  })
  expect(reset.status, reset.text).toBe(200)

  expect(await rt.closed()).toEqual({ code: 4401, reason: 'credential no longer valid' })
  expectErrorBody(rt.errors()[0]!.error, 'auth_error', 401)
})

test('deleting a user ends their followed container log with an error event', async () => {
  const viewer = await createUser(api.http, admin, 'viewer')
  const live = await openSse(
    `${api.url}/api/v1/servers/${serverId}/containers/${containerId}/logs?follow=true&tail=0`,
    viewer.token,
  )
  expect(live.status).toBe(200)
  await waitFor('a followed line', () => live.events.some((e) => e.event === 'stdout'))

  const deleted = await api.http.delete(`/users/${viewer.id}`, { token: admin })
  expect(deleted.status).toBe(204)

  await waitFor('the follow to end', () => live.ended)
  const last = live.events.at(-1)!
  expect(last.event).toBe('error')
  expectErrorBody(JSON.parse(last.data), 'auth_error', 401)
  live.close()
})

test('revoking a token ends its follow of a queued deployment’s output with an error event', async () => {
  // A server whose agent never connects: its deployment stays queued, followed and silent.
  const idle = await api.http.post('/servers', { token: admin, body: { name: `t${run}-idle` } })
  expect(idle.status, idle.text).toBe(201)
  const app = await api.http.post('/apps', {
    token: admin,
    body: {
      name: `t${run}-waiting`,
      server_id: idle.body.server.id,
      source: { type: 'image', image: TEST_IMAGE },
    },
  })
  expect(app.status, app.text).toBe(201)
  const queued = await api.http.post(`/apps/${app.body.app.id}/deploy`, { token: admin })
  expect(queued.body.deployment.state).toBe('queued')

  const member = await createUser(api.http, admin, 'member')
  const token = await memberToken(member, ['read'])
  const live = await openSse(
    `${api.url}/api/v1/deployments/${queued.body.deployment.id}/logs?follow=true`,
    token.value,
  )
  expect(live.status).toBe(200)
  await waitFor('the queued state', () => live.events.some((e) => e.event === 'state'))

  expect((await api.http.delete(`/tokens/${token.id}`, { token: member.token })).status).toBe(204)

  await waitFor('the follow to end', () => live.ended)
  const last = live.events.at(-1)!
  expect(last.event).toBe('error')
  expectErrorBody(JSON.parse(last.data), 'auth_error', 401)
  live.close()
})

test('beyond the sockets a user may hold, a WebSocket upgrade is refused with 429', async () => {
  const viewer = await createUser(api.http, admin, 'viewer')
  const held = []
  for (let i = 0; i < MAX_SOCKETS; i++) {
    const rt = await realtime(viewer.token)
    expect(rt.refusal).toBeNull()
    held.push(rt)
  }
  const refused = await realtime(viewer.token)
  expect(refused.refusal?.status).toBe(429)
  expectErrorBody(refused.refusal?.body, 'rate_limited', 429)
  expect(refused.refusal?.body).toMatchObject({ code: 'too_many_sockets', details: { limit: MAX_SOCKETS } })

  // A terminal is a socket too, whoever may open one.
  const member = await createUser(api.http, admin, 'member')
  const memberHeld = []
  for (let i = 0; i < MAX_SOCKETS; i++) memberHeld.push(await realtime(member.token))
  expect((await shell(member.token)).refusal?.body).toMatchObject({
    error: 'rate_limited',
    code: 'too_many_sockets',
  })

  // A socket closed gives its place back.
  held[0]!.ws.close()
  await held[0]!.closed()
  const again = await waitFor('a socket to be let in again', async () => {
    const rt = await realtime(viewer.token)
    return rt.refusal === null ? rt : undefined
  })
  for (const rt of [...held, again, ...memberHeld]) rt.ws.close()
})

test('beyond the streams a user may hold, a subscription is an error frame and a follow a 429', async () => {
  const viewer = await createUser(api.http, admin, 'viewer')
  const rt = await realtime(viewer.token)
  const channels = [
    `server:${serverId}`,
    `container:${serverId}:${containerId}:logs`,
    `container:${serverId}:${containerId}:stats`,
  ]
  for (const channel of channels) expect((await subscribe(rt, channel)).type).toBe('subscribed')
  const follows = [] as Awaited<ReturnType<typeof openSse>>[]
  for (let i = channels.length; i < MAX_STREAMS; i++) {
    const live = await openSse(
      `${api.url}/api/v1/servers/${serverId}/containers/${containerId}/logs?follow=true&tail=0`,
      viewer.token,
    )
    expect(live.status).toBe(200)
    follows.push(live)
  }

  const refusedSubscription = await subscribe(rt, `container:${serverId}:${containerName}:logs`)
  expect(refusedSubscription.type).toBe('error')
  expectErrorBody(refusedSubscription.error, 'rate_limited', 429)
  expect(refusedSubscription.error?.code).toBe('too_many_streams')

  const refusedFollow = await api.http.get(
    `/servers/${serverId}/containers/${containerId}/logs?follow=true&tail=0`,
    { token: viewer.token },
  )
  expect(refusedFollow.status).toBe(429)
  expectErrorBody(refusedFollow.body, 'rate_limited', 429)
  expect(refusedFollow.body).toMatchObject({ code: 'too_many_streams', details: { limit: MAX_STREAMS } })

  // Unsubscribing gives a stream back.
  rt.send({ type: 'unsubscribe', channel: channels[0] })
  await waitFor('the unsubscribe', () => rt.frames.some((f) => f.type === 'unsubscribed'))
  rt.frames.length = 0
  expect((await subscribe(rt, `container:${serverId}:${containerName}:logs`)).type).toBe('subscribed')
  for (const live of follows) live.close()
  rt.ws.close()
})

test('subscriptions to one container’s logs by any alias share one stream on the host', async () => {
  await waitFor('no stream open on the host', async () => (await openStreams()) === 0)
  const detail = await api.http.get(`/servers/${serverId}/containers/${containerId}`, { token: admin })
  const aliases = [detail.body.container.id as string, containerId, containerId.slice(0, 12), containerName]
  const member = await createUser(api.http, admin, 'member')
  const sockets = [await realtime(member.token), await realtime(member.token)]
  for (const [i, alias] of aliases.entries()) {
    const rt = sockets[i % sockets.length]!
    expect((await subscribe(rt, `container:${serverId}:${alias}:logs`)).type).toBe('subscribed')
  }
  // Every subscriber gets lines, from the one stream the host runs.
  for (const [i, alias] of aliases.entries()) {
    const rt = sockets[i % sockets.length]!
    const channel = `container:${serverId}:${alias}:logs`
    await waitFor(`a line on ${channel}`, () =>
      rt.frames.some((f) => f.channel === channel && f.event === 'log'),
    )
  }
  expect(await openStreams()).toBe(1)

  // The stream on the host stops once the last subscriber leaves.
  sockets[0]!.ws.close()
  await sockets[0]!.closed()
  expect(await openStreams()).toBe(1)
  sockets[1]!.ws.close()
  await waitFor('the log stream to stop on the host', async () => (await openStreams()) === 0)
})
