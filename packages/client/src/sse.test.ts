import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { BerthError } from './errors.ts'
import { SseParser } from './sse.ts'
import { follow } from './streams.ts'

describe('SseParser', () => {
  test('reads events whatever the chunks, CRLF split too', () => {
    const text = 'event: log\r\nid: 1\r\ndata: {"a":1}\r\n\r\n: a comment\n\nevent: end\rdata: x\r\r'
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser()
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))]
      expect(events, `cut at ${cut}`).toEqual([
        { event: 'log', id: '1', data: '{"a":1}' },
        { event: 'end', id: '1', data: 'x' },
      ])
    }
  })

  test('joins multi-line data and names an unnamed event message', () => {
    const events = new SseParser().push('data: one\ndata:two\ndata\n\nretry: 10\n\n')
    expect(events).toEqual([{ event: 'message', data: 'one\ntwo\n' }])
  })
})

describe('follow', () => {
  let server: Server | undefined
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())))

  /** A real HTTP server answering the stream's request with `chunks`, one write each. */
  async function serve(status: number, chunks: string[], keepOpen = false) {
    const seen: { url?: string; auth?: string; accept?: string } = {}
    server = createServer((req, res) => {
      Object.assign(seen, { url: req.url, auth: req.headers.authorization, accept: req.headers.accept })
      res.writeHead(status, { 'Content-Type': status === 200 ? 'text/event-stream' : 'application/json' })
      for (const chunk of chunks) res.write(chunk)
      if (!keepOpen) res.end()
    })
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return { client: { origin: `http://127.0.0.1:${port}`, token: 'tok' }, seen }
  }

  const collect = async (it: AsyncIterable<unknown>) => {
    const out: unknown[] = []
    for await (const e of it) out.push(e)
    return out
  }

  test('yields the events with the bearer and query sent, until the stream ends', async () => {
    const { client, seen } = await serve(200, ['event: lo', 'g\ndata: 1\n\n', 'data: 2\n\n'])
    const events = await collect(follow(client, '/deployments/dep_1/logs', { query: { follow: true } }))
    expect(events).toEqual([
      { event: 'log', data: '1' },
      { event: 'message', data: '2' },
    ])
    expect(seen).toEqual({
      url: '/api/v1/deployments/dep_1/logs?follow=true',
      auth: 'Bearer tok',
      accept: 'text/event-stream',
    })
  })

  test('throws the error body of an error event', async () => {
    const body = {
      error: 'auth_error',
      code: 'auth_error',
      message: 'gone',
      status: 401,
      request_id: 'req_1',
      timestamp: 't',
    }
    const { client } = await serve(200, [`event: error\ndata: ${JSON.stringify(body)}\n\n`], true)
    const err = await collect(follow(client, '/x')).catch((e) => e)
    expect(err).toBeInstanceOf(BerthError)
    expect(err.body).toEqual(body)
  })

  test('throws the error body of a refused request', async () => {
    const body = {
      error: 'not_found',
      code: 'not_found',
      message: 'no such deployment',
      status: 404,
      request_id: 'req_2',
      timestamp: 't',
    }
    const { client } = await serve(404, [JSON.stringify(body)])
    const err = await collect(follow(client, '/x')).catch((e) => e)
    expect(err).toBeInstanceOf(BerthError)
    expect(err.code).toBe('not_found')
  })

  test('ends quietly when its signal aborts', async () => {
    const { client } = await serve(200, ['data: first\n\n'], true)
    const controller = new AbortController()
    const events: unknown[] = []
    for await (const e of follow(client, '/x', { signal: controller.signal })) {
      events.push(e)
      controller.abort()
    }
    expect(events).toEqual([{ event: 'message', data: 'first' }])
  })
})
