import { beforeAll, expect, test } from 'vitest'
import WebSocket from 'ws'
import { TEST_IMAGE } from './support/docker.ts'
import { createUser } from './support/flows.ts'
import { expectErrorBody, guardedHost } from './support/guarded.ts'
import { waitFor } from './support/process.ts'
import { openSse } from './support/sse.ts'
import type { ApiTarget } from './support/target.ts'

// Open sockets and streams follow their owner's rights: revoking a token, disabling, demoting or
// deleting a user closes or narrows them at once. The bounds on how many
// a user holds are in security-stream-limits.test.ts.

const guarded = guardedHost()
const { run, realtime, subscribe, shell, exists, proveShell, memberToken } = guarded
let api: ApiTarget
let admin: string
let serverId: string
let containerId: string
beforeAll(() => {
  ;({ api, admin, serverId, containerId } = guarded.host())
})

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
