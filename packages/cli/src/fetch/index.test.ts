import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { nodeFetch } from './index.ts'

// nodeFetch against a real node:http server: what a route receives, and what the caller reads.

let server: Server
let url: string
let release = () => {}

/** What a request carried: method, content type, authorization and body. */
async function echo(req: IncomingMessage) {
  let body = ''
  for await (const chunk of req) body += String(chunk)
  return {
    method: req.method,
    type: req.headers['content-type'] ?? null,
    auth: req.headers.authorization,
    body,
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' })
      res.write('data: one\n\n')
      // The rest only once the test has read the first event: proof that it came while open.
      release = () => res.end('data: two\n\n')
      return
    }
    if (req.url === '/empty') {
      res.writeHead(204).end()
      return
    }
    void echo(req).then((seen) =>
      res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify(seen)),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

test('sends a JSON body with its headers and reads the answer', async () => {
  const res = await nodeFetch(`${url}/x`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer t' },
    body: JSON.stringify({ a: 1 }),
  })
  expect(res.status).toBe(201)
  expect(res.headers.get('content-type')).toBe('application/json')
  expect(await res.json()).toEqual({
    method: 'POST',
    type: 'application/json',
    auth: 'Bearer t',
    body: '{"a":1}',
  })
})

test('streams a ReadableStream body, and serialises FormData with its boundary', async () => {
  const parts = ['chunk one, ', 'chunk two']
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(new TextEncoder().encode(part))
      controller.close()
    },
  })
  const streamed = await nodeFetch(`${url}/x`, { method: 'PUT', body: stream })
  expect((await streamed.json()).body).toBe('chunk one, chunk two')

  const form = new FormData()
  form.set('field', 'value')
  const sent = await (await nodeFetch(`${url}/x`, { method: 'POST', body: form })).json()
  expect(sent.type).toMatch(/^multipart\/form-data; boundary=/)
  expect(sent.body).toContain('name="field"\r\n\r\nvalue')
})

test('gives a streamed answer as it comes, and no body for a 204', async () => {
  const res = await nodeFetch(`${url}/stream`)
  const reader = res.body!.getReader()
  const first = await reader.read()
  expect(new TextDecoder().decode(first.value)).toBe('data: one\n\n')
  release()
  let rest = ''
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    rest += new TextDecoder().decode(next.value)
  }
  expect(rest).toBe('data: two\n\n')
  const empty = await nodeFetch(`${url}/empty`, { method: 'DELETE' })
  expect(empty.status).toBe(204)
  expect(empty.body).toBeNull()
})

test('an aborted signal ends the request, and a closed port rejects', async () => {
  const controller = new AbortController()
  controller.abort()
  await expect(nodeFetch(`${url}/x`, { signal: controller.signal })).rejects.toThrow(/abort/i)
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  await expect(nodeFetch(`http://127.0.0.1:${port}/`)).rejects.toThrow(/ECONNREFUSED/)
})
