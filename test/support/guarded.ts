import { afterAll, beforeAll, expect } from 'vitest'
import WebSocket from 'ws'
import { docker, TEST_IMAGE } from './docker.ts'
import { type ContainerHost, startContainerHost } from './flows.ts'
import { waitFor } from './process.ts'

// A ContainerHost whose users may hold a few sockets and streams, and the client side of them:
// realtime sockets, terminals, subscriptions, as a browser or a CLI opens them.

export const MAX_SOCKETS = 3
export const MAX_STREAMS = 5

export interface Frame {
  type: string
  channel?: string
  event?: string
  data?: any
  error?: { error: string; code: string; message: string; status: number; request_id: string }
}

export const expectErrorBody = (body: any, error: string, status: number) =>
  expect(body).toMatchObject({
    error,
    status,
    code: expect.any(String),
    message: expect.any(String),
    request_id: expect.stringMatching(/^req_/),
    timestamp: expect.any(String),
  })

/** Starts the guarded host before the file's tests and stops it after them. */
export function guardedHost() {
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
  })
  afterAll(() => host?.stop())

  /** A WebSocket as a client sees it: its frames, how it closed, or the HTTP answer that refused it. */
  async function socket(path: string, token: string) {
    const ws = new WebSocket(`${host.api.url.replace(/^http/, 'ws')}/api/v1${path}`, {
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
      `/servers/${host.serverId}/containers/${host.containerId}/exec?cmd=${encodeURIComponent('["sh"]')}&tty=false`,
      token,
    )

  const exists = (path: string) => {
    try {
      docker('exec', host.containerId, 'test', '-e', path)
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

  const openStreams = async () =>
    (await host.api.http.get(`/servers/${host.serverId}/agent`, { token: host.admin })).body.agent
      .open_streams as number

  async function memberToken(user: { token: string }, scopes: string[]) {
    const created = await host.api.http.post('/tokens', { token: user.token, body: { name: 'ci', scopes } })
    expect(created.status, created.text).toBe(201)
    return { id: created.body.token.id as string, value: created.body.token.value as string }
  }

  return {
    run,
    containerName,
    host: () => host,
    socket,
    realtime,
    subscribe,
    shell,
    exists,
    proveShell,
    openStreams,
    memberToken,
  }
}
