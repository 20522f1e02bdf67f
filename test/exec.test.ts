import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import WebSocket from 'ws'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { type ContainerHost, createUser, startContainerHost } from './support/flows.ts'
import { waitFor } from './support/process.ts'
import type { ApiTarget } from './support/target.ts'

// The terminal: a WebSocket to the API, relayed over the agent's link to a docker exec on the
// host, with a real container.

let api: ApiTarget
let admin: string
let serverId: string
let containerId: string
const run = Math.random().toString(36).slice(2, 7)

let host: ContainerHost

beforeAll(async () => {
  host = await startContainerHost('exec-host', ['--name', `t${run}-shell`, TEST_IMAGE, 'sleep', '3600'])
  ;({ api, admin, serverId, containerId } = host)
})

afterAll(() => host?.stop())

interface Frame {
  type: string
  data?: string
  encoding?: string
  code?: number | null
  error?: { error: string; message: string }
}

/** A terminal session as a client sees it: the frames it got, and a way to wait for more. */
async function terminal(query: Record<string, string>, opts: { token?: string; protocols?: string[] } = {}) {
  const url = new URL(
    `${api.url.replace(/^http/, 'ws')}/api/v1/servers/${serverId}/containers/${containerId}/exec`,
  )
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
  const headers: Record<string, string> = {}
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`
  const ws = new WebSocket(url, opts.protocols ?? [], { headers })
  const frames: Frame[] = []
  let closed = false
  ws.on('message', (data) => frames.push(JSON.parse(String(data))))
  ws.on('close', () => {
    closed = true
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
  const output = (stream = 'stdout') =>
    Buffer.concat(
      frames
        .filter((f) => f.type === stream)
        .map((f) => Buffer.from(f.data ?? '', f.encoding === 'base64' ? 'base64' : 'utf8')),
    )
  return {
    ws,
    frames,
    output,
    send: (frame: object) => ws.send(JSON.stringify(frame)),
    exit: () => waitFor('the exit frame', () => frames.find((f) => f.type === 'exit'), 15_000, 20),
    closed: () => waitFor('the socket to close', () => closed, 15_000, 20),
  }
}

const processes = () => docker('top', containerId, '-o', 'pid,args')

describe('terminal', () => {
  test('runs a command and sends its stdout, then its exit code', async () => {
    const t = await terminal(
      { cmd: JSON.stringify(['sh', '-c', 'echo hello']), tty: 'false' },
      { token: admin },
    )
    expect((await t.exit()).code).toBe(0)
    expect(t.output().toString()).toBe('hello\n')
    await t.closed()
  })

  test('keeps stderr apart without a tty, and passes the exit code on', async () => {
    const t = await terminal(
      { cmd: JSON.stringify(['sh', '-c', 'echo oops >&2; exit 3']), tty: 'false' },
      { token: admin },
    )
    expect((await t.exit()).code).toBe(3)
    expect(t.output('stderr').toString()).toBe('oops\n')
    expect(t.output('stdout').toString()).toBe('')
  })

  test('binary stdin and stdout arrive unchanged', async () => {
    const bytes = randomBytes(4096)
    const t = await terminal({ cmd: `head -c ${bytes.length}`, tty: 'false' }, { token: admin })
    t.send({ type: 'stdin', data: bytes.toString('base64'), encoding: 'base64' })
    expect((await t.exit()).code).toBe(0)
    expect(t.output().equals(bytes)).toBe(true)
  })

  test('a tty takes its size from the query and from resize frames', async () => {
    const t = await terminal({ cmd: '/bin/sh', tty: 'true', cols: '120', rows: '30' }, { token: admin })
    t.send({ type: 'stdin', data: 'stty size\n' })
    await waitFor('the first size', () => t.output().toString().includes('30 120'))
    // Typed right after the resize, it runs at the new size: the agent keeps the two in order.
    t.send({ type: 'resize', cols: 100, rows: 40 })
    t.send({ type: 'stdin', data: 'stty size; exit 7\n' })
    expect((await t.exit()).code).toBe(7)
    expect(t.output().toString()).toContain('40 100')
  })

  test('INT stops a sleep', async () => {
    const t = await terminal({ cmd: 'sleep 1234', tty: 'false' }, { token: admin })
    await waitFor('the sleep on the host', () => processes().includes('sleep 1234'))
    t.send({ type: 'signal', name: 'INT' })
    const exit = await t.exit()
    expect(exit.code).not.toBe(0)
    expect(processes()).not.toContain('sleep 1234')
  })

  test('closing the socket ends the process on the host', async () => {
    const t = await terminal({ cmd: 'sleep 2345', tty: 'true' }, { token: admin })
    await waitFor('the sleep on the host', () => processes().includes('sleep 2345'))
    t.ws.close()
    await waitFor('the sleep to be gone', () => !processes().includes('sleep 2345'), 10_000)
  })

  test('a browser authenticates with a subprotocol, never in the URL', async () => {
    const t = await terminal(
      { cmd: JSON.stringify(['sh', '-c', 'echo via-protocol']), tty: 'false' },
      { protocols: ['berth.v1', `bearer.${admin}`] },
    )
    expect(t.ws.protocol).toBe('berth.v1')
    expect((await t.exit()).code).toBe(0)
    expect(t.output().toString()).toBe('via-protocol\n')
    await expect(terminal({ cmd: 'true' }, { protocols: ['berth.v1', 'bearer.nope'] })).rejects.toThrow(
      'HTTP 401',
    )
    await expect(terminal({ cmd: 'true' })).rejects.toThrow('HTTP 401')
  })

  test('a viewer cannot open one; bad input is an error frame or an HTTP error, not a dropped socket', async () => {
    const viewer = await createUser(api.http, admin, 'viewer')
    await expect(terminal({ cmd: 'true' }, { token: viewer.token })).rejects.toThrow('HTTP 403')
    await expect(terminal({ cmd: 'true', cols: '0' }, { token: admin })).rejects.toThrow('HTTP 400')
    const plain = await api.http.get(`/servers/${serverId}/containers/${containerId}/exec`, { token: admin })
    expect(plain.status).toBe(400)
    expect(plain.body.code).toBe('upgrade_required')
    const missing = new WebSocket(
      `${api.url.replace(/^http/, 'ws')}/api/v1/servers/${serverId}/containers/t${run}-nobody/exec`,
      { headers: { Authorization: `Bearer ${admin}` } },
    )
    const status = await new Promise<number>((resolve) => {
      missing.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      missing.once('open', () => resolve(101))
      missing.once('error', () => resolve(0))
    })
    expect(status).toBe(404)

    const t = await terminal({ cmd: 'cat', tty: 'false' }, { token: admin })
    t.ws.send('not json')
    t.send({ type: 'stdin', data: 42 })
    await waitFor('two error frames', () => t.frames.filter((f) => f.type === 'error').length === 2)
    expect(t.frames.filter((f) => f.type === 'error').map((f) => f.error?.error)).toEqual([
      'validation_error',
      'validation_error',
    ])
    t.send({ type: 'stdin', data: 'still here\n' })
    await waitFor('the echo', () => t.output().toString() === 'still here\n')
    t.send({ type: 'close' })
    await t.closed()
    await waitFor('cat to be gone', () => !/\bcat\b/.test(processes()), 10_000)
  })
})
