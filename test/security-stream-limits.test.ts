import { beforeAll, expect, test } from 'vitest'
import { createUser } from './support/flows.ts'
import { expectErrorBody, guardedHost, MAX_SOCKETS, MAX_STREAMS } from './support/guarded.ts'
import { waitFor } from './support/process.ts'
import { openSse } from './support/sse.ts'
import type { ApiTarget } from './support/target.ts'

// Each user holds a bounded number of sockets and streams, and subscriptions to one container's
// logs, by any alias, share one stream on the host.

const guarded = guardedHost()
const { containerName, realtime, subscribe, shell, openStreams } = guarded
let api: ApiTarget
let admin: string
let serverId: string
let containerId: string
beforeAll(() => {
  ;({ api, admin, serverId, containerId } = guarded.host())
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
