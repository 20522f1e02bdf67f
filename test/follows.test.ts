import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import WebSocket from 'ws'
import { startAgentProcess } from './support/agent.ts'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { registerAdmin, waitForServerStatus } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { openSse } from './support/sse.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Follows are woken by the writes that feed them. The fallback read is set to ten minutes, so a
// follower sees a deployment move only if the write of each report wakes it: on Node the write is
// in the same process; on Workers the server's Durable Object writes and the worker follows.

let api: ApiTarget
let admin: string
let work: string
const agents: Child[] = []
const run = Math.random().toString(36).slice(2, 7)
const image = `berth/t${run}-follow:latest`

beforeAll(async () => {
  work = mkdtempSync(join(os.tmpdir(), 'berth-follows-'))
  writeFileSync(
    join(work, 'Dockerfile'),
    `FROM ${TEST_IMAGE}\nCMD ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; httpd -f -p 3000 -h /www & wait"]\n`,
  )
  docker('build', '-q', '-t', image, work)
  api = await startApi({ env: { BERTH_FOLLOW_FALLBACK_MS: '600000' } })
  admin = await registerAdmin(api.http)
})

afterAll(async () => {
  const apps = (await api.http.get('/apps?limit=200', { token: admin })).body.apps ?? []
  for (const app of apps) await api.http.delete(`/apps/${app.id}`, { token: admin })
  for (const agent of agents) await agent.stop()
  await api?.stop()
  docker('rmi', '-f', image)
  rmSync(work, { recursive: true, force: true })
})

/**
 * A deployment queued on a server whose agent is not connected yet, so whoever follows it sees it
 * queued first; `connect` starts the agent, which is handed the deployment and reports it.
 */
async function queuedDeployment(what: string) {
  const server = await api.http.post('/servers', { token: admin, body: { name: `t${run}-${what}` } })
  expect(server.status, server.text).toBe(201)
  const serverId: string = server.body.server.id
  const app = await api.http.post('/apps', {
    token: admin,
    body: { name: `t${run}-${what}`, server_id: serverId, port: 3000, source: { type: 'image', image } },
  })
  expect(app.status, app.text).toBe(201)
  const deployed = await api.http.post(`/apps/${app.body.app.id}/deploy`, { token: admin })
  expect(deployed.status, deployed.text).toBe(202)
  expect(deployed.body.deployment.state).toBe('queued')
  return {
    id: deployed.body.deployment.id as string,
    async connect() {
      const stateDir = mkdtempSync(join(work, 'agent-'))
      agents.push(startAgentProcess({ api: api.url, token: server.body.enrollment.token, stateDir }))
      await waitForServerStatus(api.http, admin, serverId, 'online')
    },
  }
}

test('a follower over SSE sees a deployment’s lines and its final state as the agent reports them', async () => {
  const deployment = await queuedDeployment('sse')
  const live = await openSse(`${api.url}/api/v1/deployments/${deployment.id}/logs?follow=true`, admin)
  expect(live.status).toBe(200)
  await waitFor('the queued state', () =>
    live.events.some((e) => e.event === 'state' && JSON.parse(e.data).state === 'queued'),
  )
  await deployment.connect()
  await waitFor('the follow to end', () => live.events.some((e) => e.event === 'end'), 45_000)
  live.close()
  const states = live.events.filter((e) => e.event === 'state').map((e) => JSON.parse(e.data).state)
  expect(states[0]).toBe('queued')
  expect(states.at(-1)).toBe('running')
  const lines = live.events.filter((e) => e.event === 'log').map((e) => Number(e.id))
  const stored = await api.http.get(`/deployments/${deployment.id}/logs`, { token: admin })
  expect(stored.body.lines.length).toBeGreaterThan(0)
  expect(lines).toEqual(stored.body.lines.map((l: { seq: number }) => l.seq))
})

test('a realtime subscriber sees a deployment’s lines and its final state as the agent reports them', async () => {
  const deployment = await queuedDeployment('ws')
  const channel = `deployment:${deployment.id}`
  const ws = new WebSocket(`${api.url.replace(/^http/, 'ws')}/api/v1/ws`, {
    headers: { Authorization: `Bearer ${admin}` },
  })
  const frames: { type: string; channel?: string; event?: string; data?: any }[] = []
  ws.on('message', (data) => frames.push(JSON.parse(String(data))))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  ws.send(JSON.stringify({ type: 'subscribe', channel }))
  const events = (event: string) => frames.filter((f) => f.channel === channel && f.event === event)
  await waitFor('the queued state', () => events('state').some((f) => f.data.state === 'queued'))
  await deployment.connect()
  const final = await waitFor(
    'a final state',
    () => events('state').find((f) => ['running', 'failed', 'cancelled'].includes(f.data.state)),
    45_000,
  )
  expect(final.data.state).toBe('running')
  expect(events('log').length).toBeGreaterThan(0)
  ws.close()
})
