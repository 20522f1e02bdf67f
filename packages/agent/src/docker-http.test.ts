import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { PlainDockerHttp, type PlainRequest } from './docker-http.ts'

const get = (path: string, more: Partial<PlainRequest> = {}): PlainRequest => ({
  method: 'GET',
  path,
  query: {},
  body: undefined,
  signal: undefined,
  ...more,
})

/**
 * A stand-in engine on a TCP port that answers each request with the bytes `answer` gives, so
 * that framings the real engine seldom uses can be checked. Counts connections and requests.
 */
async function standIn(answer: (request: string, socket: Socket, n: number) => void) {
  const requests: string[] = []
  let connections = 0
  const server = createServer((socket) => {
    connections++
    let pending = ''
    socket.on('data', (data) => {
      pending += data.toString('latin1')
      for (;;) {
        const end = pending.indexOf('\r\n\r\n')
        if (end === -1) return
        const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0)
        if (pending.length < end + 4 + length) return
        const request = pending.slice(0, end + 4 + length)
        pending = pending.slice(request.length)
        requests.push(request)
        answer(request, socket, requests.length)
      }
    })
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const http = new PlainDockerHttp({ host: '127.0.0.1', port: (server.address() as AddressInfo).port })
  opened.push(() => {
    http.close()
    server.close()
  })
  return { http, requests, connections: () => connections }
}

const opened: (() => void)[] = []
afterEach(() => {
  for (const close of opened.splice(0)) close()
})

const json = (body: unknown, extra = '') => {
  const text = JSON.stringify(body)
  return `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extra}\r\n${text}`
}

describe('PlainDockerHttp', () => {
  it('asks the real engine over its unix socket, on one kept-alive connection', async () => {
    const http = new PlainDockerHttp({ socketPath: '/var/run/docker.sock' })
    opened.push(() => http.close())
    const { stdout } = await promisify(execFile)('docker', ['version', '--format', '{{.Server.Version}}'])
    const version = await http.send(get('/version'))
    expect(version).toMatchObject({ status: 200, body: { Version: stdout.trim() } })
    expect(await http.send(get('/_ping'))).toEqual({ status: 200, body: 'OK' })
    const missing = await http.send(get('/containers/berth-test-nobody/json'))
    expect(missing.status).toBe(404)
    expect(missing.body).toMatchObject({ message: expect.stringContaining('No such container') })
    const listed = await http.send(
      get('/containers/json', { query: { all: true, filters: { label: ['none=none'] } } }),
    )
    expect(listed).toEqual({ status: 200, body: [] })
  })

  it('reads a body that arrives a byte at a time, chunked with extensions and trailers, or empty', async () => {
    const engine = await standIn((request, socket) => {
      if (request.startsWith('GET /slow')) {
        const bytes = Buffer.from(json({ slow: 'é'.repeat(20) }))
        const drip = (i: number) => {
          if (i < bytes.length) socket.write(bytes.subarray(i, i + 1), () => setImmediate(() => drip(i + 1)))
        }
        drip(0)
      } else if (request.startsWith('GET /chunked')) {
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        )
        socket.write('5;name=x\r\n{"a":\r\n')
        const last = request.startsWith('GET /chunked-trailer') ? '0\r\nX-Trailer: y\r\n\r\n' : '0\r\n\r\n'
        setImmediate(() => socket.write(`3\r\n[1]\r\n1\r\n}\r\n${last}`))
      } else if (request.startsWith('POST /containers/c/start')) {
        socket.write('HTTP/1.1 204 No Content\r\n\r\n')
      } else {
        socket.write('HTTP/1.1 100 Continue\r\n\r\n')
        socket.write('HTTP/1.1 304 Not Modified\r\n\r\n')
      }
    })
    expect(await engine.http.send(get('/slow'))).toEqual({ status: 200, body: { slow: 'é'.repeat(20) } })
    expect(await engine.http.send(get('/chunked-trailer'))).toEqual({ status: 200, body: { a: [1] } })
    expect(await engine.http.send(get('/chunked'))).toEqual({ status: 200, body: { a: [1] } })
    expect(await engine.http.send({ ...get('/containers/c/start'), method: 'POST' })).toEqual({
      status: 204,
      body: null,
    })
    expect(await engine.http.send({ ...get('/containers/c/stop'), method: 'POST' })).toEqual({
      status: 304,
      body: null,
    })
    expect(engine.connections()).toBe(1)
    expect(engine.requests[3]).toMatch(/^POST \/containers\/c\/start HTTP\/1\.1\r\n.*Content-Length: 0\r\n/s)
  })

  it('sends JSON bodies and queries, and answers overlapping calls each on its own connection', async () => {
    const engine = await standIn((request, socket) => {
      const body = request.slice(request.indexOf('\r\n\r\n') + 4)
      socket.write(json({ line: request.split('\r\n')[0], body: body ? JSON.parse(body) : null }))
    })
    const replies = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        engine.http.send({
          method: 'POST',
          path: '/containers/create',
          query: { name: `n${i}`, filters: { label: ['a=b'] } },
          body: { Image: 'x', Env: [`I=${i}`] },
          signal: undefined,
        }),
      ),
    )
    replies.forEach((reply, i) => {
      expect(reply.body).toEqual({
        line: `POST /containers/create?name=n${i}&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D HTTP/1.1`,
        body: { Image: 'x', Env: [`I=${i}`] },
      })
    })
    expect(engine.connections()).toBe(5)
    // Afterwards the kept-alive connections carry the next calls.
    for (let i = 0; i < 5; i++) await engine.http.send(get('/_ping'))
    expect(engine.connections()).toBe(5)
  })

  it('opens a new connection after Connection: close, and reads a body that ends with the connection', async () => {
    const engine = await standIn((request, socket) => {
      if (request.startsWith('GET /close')) socket.end(json({ closed: true }, 'Connection: close\r\n'))
      else socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end')
    })
    expect((await engine.http.send(get('/close'))).body).toEqual({ closed: true })
    expect(await engine.http.send(get('/until-close'))).toEqual({ status: 200, body: 'to the end' })
    expect(engine.connections()).toBe(2)
  })

  it('sends a read again on a new connection when a kept-alive one is closed unanswered, never a write', async () => {
    const engine = await standIn((_request, socket, n) => {
      if (n === 2 || n === 5) socket.destroy()
      else socket.write(json({ n }))
    })
    expect((await engine.http.send(get('/a'))).body).toEqual({ n: 1 })
    expect((await engine.http.send(get('/b'))).body).toEqual({ n: 3 })
    expect(engine.connections()).toBe(2)
    expect((await engine.http.send(get('/c'))).body).toEqual({ n: 4 })
    const write = await engine.http
      .send({ ...get('/containers/create'), method: 'POST', body: {} })
      .catch((err: unknown) => err)
    expect(String(write)).toContain('closed the connection before it answered')
    expect(engine.requests).toHaveLength(5)
  })

  it('gives up on a call when its signal aborts, and refuses what is not HTTP', async () => {
    const engine = await standIn((request, socket) => {
      if (request.startsWith('GET /garbage')) socket.write('SSH-2.0-OpenSSH\r\n\r\n')
    })
    const controller = new AbortController()
    const call = engine.http.send(get('/never', { signal: controller.signal }))
    setTimeout(() => controller.abort(), 50)
    await expect(call).rejects.toMatchObject({ name: 'AbortError' })
    await expect(engine.http.send(get('/garbage'))).rejects.toThrow('something other than an HTTP answer')
  })

  it('says when nothing listens where the engine should be', async () => {
    const http = new PlainDockerHttp({ socketPath: '/tmp/berth-no-such-engine.sock' })
    await expect(http.send(get('/_ping'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
