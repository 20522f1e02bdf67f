import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import type { ErrorBody } from '@berth/client'
import { afterEach, describe, expect, test } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { pump } from './pump.ts'

// The pump between a local socket and a tunnel WebSocket, against a local `ws` server that speaks
// the tunnel's contract as the API does (a stand-in for the API's end, which the e2e suites test).

const WINDOW = 64 * 1024
const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** The API's end of one tunnel, as the test drives it. */
interface FakeApi {
  socket: WebSocket
  received: Buffer[]
  frames: unknown[]
  /** Bytes of the client's not credited back yet: the contract caps them at the window. */
  outstanding: number
  credits: number
  closeCode?: number
}

/** A local client socket, pumped through a tunnel to a fake API that `serve` drives. */
async function tunnel(serve: (api: FakeApi) => void = () => {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  const apis: FakeApi[] = []
  wss.on('connection', (socket) => {
    const api: FakeApi = { socket, received: [], frames: [], outstanding: 0, credits: 0 }
    apis.push(api)
    socket.on('message', (data, binary) => {
      if (binary) {
        api.received.push(data as Buffer)
        api.outstanding += (data as Buffer).length
        if (api.outstanding > WINDOW) socket.close(1008, 'past the window')
        return
      }
      const frame = JSON.parse(String(data))
      api.frames.push(frame)
      if (frame.type === 'credit') api.credits += frame.bytes
    })
    socket.on('close', (code) => {
      api.closeCode = code
    })
    serve(api)
  })
  const local = createServer({ allowHalfOpen: true })
  local.listen(0, '127.0.0.1')
  await once(local, 'listening')
  const errors: ErrorBody[] = []
  const accepted = new Promise<{ socket: Socket; done: Promise<void> }>((resolve) => {
    local.once('connection', async (socket) => {
      socket.pause()
      const remote = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`)
      await once(remote, 'open')
      resolve({ socket, done: pump(socket, remote, { onError: (e) => errors.push(e), window: WINDOW }) })
    })
  })
  const client = connect({
    port: (local.address() as AddressInfo).port,
    host: '127.0.0.1',
    allowHalfOpen: true,
  })
  const got: Buffer[] = []
  client.on('data', (chunk: Buffer) => got.push(chunk))
  const { socket, done } = await accepted
  await expect.poll(() => apis.length).toBe(1)
  cleanups.push(() => {
    client.destroy()
    local.close()
    wss.close()
  })
  return { client, got, api: apis[0]!, accepted: socket, done, errors }
}

/** Credits everything the fake API has received and not credited yet. */
function creditAll(api: FakeApi) {
  if (api.outstanding === 0) return
  api.socket.send(JSON.stringify({ type: 'credit', bytes: api.outstanding }))
  api.outstanding = 0
}

describe('pump', () => {
  test('sends no more than the window until credited, pausing the local socket', async () => {
    const t = await tunnel()
    const data = randomBytes(5 * WINDOW + 123)
    t.client.write(data)
    await expect.poll(() => Buffer.concat(t.api.received).length).toBe(WINDOW)
    await expect.poll(() => t.accepted.isPaused()).toBe(true)
    t.api.socket.on('message', () => creditAll(t.api))
    creditAll(t.api)
    await expect.poll(() => Buffer.concat(t.api.received).length).toBe(data.length)
    expect(Buffer.concat(t.api.received).equals(data)).toBe(true)
    expect(t.api.closeCode).toBeUndefined()
  })

  test('credits what it wrote to the local socket, the bytes unchanged', async () => {
    const data = randomBytes(7 * WINDOW + 5)
    const t = await tunnel()
    // The API's side of the window: it sends only what has been credited back.
    let sent = 0
    const send = () => {
      while (sent < data.length && sent - t.api.credits < WINDOW) {
        const size = Math.min(16 * 1024, data.length - sent, WINDOW - (sent - t.api.credits))
        t.api.socket.send(data.subarray(sent, sent + size))
        sent += size
      }
    }
    t.api.socket.on('message', send)
    send()
    await expect.poll(() => Buffer.concat(t.got).length).toBe(data.length)
    expect(Buffer.concat(t.got).equals(data)).toBe(true)
    await expect.poll(() => t.api.credits).toBe(data.length)
  })

  test('half-closes each way with eof while the other way goes on', async () => {
    const t = await tunnel()
    t.client.end('stdin')
    await expect.poll(() => t.api.frames).toContainEqual({ type: 'eof' })
    expect(Buffer.concat(t.api.received).toString()).toBe('stdin')
    // The local client's end is only its sending half: what comes after still reaches it.
    t.api.socket.send(Buffer.from('output after stdin ended'))
    t.api.socket.send(JSON.stringify({ type: 'eof' }))
    await once(t.client, 'end')
    expect(Buffer.concat(t.got).toString()).toBe('output after stdin ended')
    await t.done
    expect(t.api.closeCode).toBe(1000)
  })

  test('reports the error frame once and cuts the local connection', async () => {
    const body = {
      error: 'agent_offline',
      code: 'agent_offline',
      message: 'the agent went offline',
      status: 503,
      request_id: 'req_x',
      timestamp: new Date().toISOString(),
    }
    const t = await tunnel()
    t.api.socket.send(JSON.stringify({ type: 'error', error: body }))
    t.api.socket.close(1011)
    await t.done
    expect(t.errors).toEqual([body])
    expect(t.client.destroyed || t.client.readableEnded).toBe(true)
  })

  test('a close that is not the end of the Docker connection is reported', async () => {
    const t = await tunnel()
    t.api.socket.close(4401, 'credential no longer valid')
    await t.done
    expect(t.errors).toHaveLength(1)
    expect(t.errors[0]!.message).toContain('4401: credential no longer valid')
  })

  test('closes with 1008 on a frame the contract does not have', async () => {
    const t = await tunnel()
    t.api.socket.send(JSON.stringify({ type: 'credit', bytes: -1 }))
    await t.done
    expect(t.api.closeCode).toBe(1008)
  })
})
