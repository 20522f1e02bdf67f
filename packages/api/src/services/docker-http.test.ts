import { execFileSync } from 'node:child_process'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RawConnection } from '../context.ts'
import { rawConnection } from '../runtime/node/raw-upgrade.ts'
import { relayDockerRequest, spliceDockerUpgrade } from './docker-http.ts'

// The relay against the real Docker Engine of this machine, over a plain connection to its socket
// (what the agent's tunnel carries); the e2e suite runs the same through the API and an agent.

const SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock'
const IMAGE = process.env.BERTH_TEST_IMAGE ?? 'berth-test/busybox:latest'
const NAME = `berth-relay-${Date.now().toString(36)}`
const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim()

function dockerSocket(): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(SOCKET)
    socket.once('connect', () => resolve(rawConnection(socket, Buffer.alloc(0))))
    socket.once('error', reject)
  })
}

const text = (body: ReadableStream<Uint8Array> | null) => new Response(body).text()
const json = (body: unknown) => new Blob([JSON.stringify(body)]).stream()

async function relay(
  method: string,
  target: string,
  init: { headers?: Record<string, string>; body?: unknown } = {},
) {
  let done = 0
  const response = await relayDockerRequest(
    await dockerSocket(),
    {
      method,
      target,
      headers: new Headers(init.headers),
      body: init.body === undefined ? null : json(init.body),
    },
    () => done++,
  )
  return { ...response, text: await text(response.body), done: () => done }
}

beforeAll(() => {
  docker('run', '-d', '--name', NAME, IMAGE, 'sleep', '300')
})
afterAll(() => {
  execFileSync('docker', ['rm', '-f', NAME], { stdio: 'ignore' })
})

describe('relayDockerRequest', () => {
  it('answers _ping with Docker status, fields and body, and ends once', async () => {
    const ping = await relay('GET', '/_ping', {
      headers: { Authorization: 'Bearer secret', Connection: 'close' },
    })
    expect(ping).toMatchObject({ status: 200, text: 'OK', length: 2 })
    const names = ping.headers.map(([name]) => name.toLowerCase())
    expect(names).toContain('api-version')
    expect(names).not.toContain('content-length')
    expect(ping.done()).toBe(1)
  })

  it('answers HEAD with the fields and no body', async () => {
    const head = await relay('HEAD', '/_ping')
    expect(head).toMatchObject({ status: 200, body: null, text: '' })
  })

  it('sends a body of unknown length chunked, and streams output read until close', async () => {
    const exec = await relay('POST', `/v1.41/containers/${NAME}/exec`, {
      headers: { 'Content-Type': 'application/json' },
      body: { Cmd: ['echo', 'relayed'], AttachStdout: true, AttachStderr: true },
    })
    expect(exec.status).toBe(201)
    const { Id } = JSON.parse(exec.text)
    const body = JSON.stringify({ Detach: false, Tty: false })
    const started = await relay('POST', `/v1.41/exec/${Id}/start`, {
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
      body: JSON.parse(body),
    })
    expect(started.status).toBe(200)
    // One stdout frame of Docker's multiplexed stream: stream 1, length 8.
    expect(started.text).toBe('\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0008relayed\n')
    expect(started.done()).toBe(1)
  })

  it("passes Docker's own errors through unchanged", async () => {
    const missing = await relay('GET', '/v1.41/containers/berth-relay-nothing-here/json')
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.text).message).toContain('No such container')
  })

  it('refuses a Content-Length that is not a number, before writing anything', async () => {
    const connection = await dockerSocket()
    let done = 0
    const relayed = relayDockerRequest(
      connection,
      { method: 'POST', target: '/_ping', headers: new Headers({ 'Content-Length': 'x' }), body: null },
      () => done++,
    )
    await expect(relayed).rejects.toMatchObject({ kind: 'validation_error', code: 'malformed_request' })
    expect(done).toBe(1)
  })
})

describe('spliceDockerUpgrade', () => {
  it("switches to tcp on Docker's 101, carries stdin, and ends when the client half-closes", async () => {
    const exec = await relay('POST', `/v1.41/containers/${NAME}/exec`, {
      headers: { 'Content-Type': 'application/json' },
      body: { Cmd: ['cat'], AttachStdin: true, AttachStdout: true, AttachStderr: true },
    })
    const { Id } = JSON.parse(exec.text)
    const start = JSON.stringify({ Detach: false, Tty: false })
    // The client's socket: what it sends (the body, then stdin, then its end), and what it gets.
    const sent = new TransformStream<Uint8Array, Uint8Array>()
    const received = new TransformStream<Uint8Array, Uint8Array>()
    const client: RawConnection = { readable: sent.readable, writable: received.writable, close: () => {} }
    const spliced = spliceDockerUpgrade(await dockerSocket(), client, {
      method: 'POST',
      target: `/v1.41/exec/${Id}/start`,
      headers: new Headers({ 'Content-Type': 'application/json', 'Content-Length': String(start.length) }),
    })
    const input = sent.writable.getWriter()
    await input.write(new TextEncoder().encode(`${start}hello\n`))
    const output = received.readable.getReader()
    let seen = ''
    while (!seen.includes('hello\n')) {
      const next = await output.read()
      if (next.done) break
      seen += new TextDecoder().decode(next.value)
    }
    expect(seen).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/)
    expect(seen).toContain('\r\nUpgrade: tcp\r\n')
    expect(seen).toContain('\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0006hello\n')
    await input.close()
    await spliced
    expect((await output.read()).done).toBe(true)
  })

  it("writes Docker's refusal as a whole response and closes", async () => {
    const sent = new TransformStream<Uint8Array, Uint8Array>()
    const received = new TransformStream<Uint8Array, Uint8Array>()
    const client: RawConnection = { readable: sent.readable, writable: received.writable, close: () => {} }
    const spliced = spliceDockerUpgrade(await dockerSocket(), client, {
      method: 'POST',
      target: '/v1.41/containers/berth-relay-nothing-here/attach?stream=1&stdout=1',
      headers: new Headers(),
    })
    const [answer] = await Promise.all([text(received.readable), spliced])
    expect(answer).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/)
    expect(answer).toContain('Connection: close\r\n')
    expect(answer).toContain('No such container')
  })
})
