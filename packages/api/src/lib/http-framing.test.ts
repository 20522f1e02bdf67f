import { describe, expect, it } from 'vitest'
import { type AnswerSink, DockerConversation } from './docker-calls.ts'
import { type BodyFraming, chunkedEncoder, endToEnd, FramingError, httpHead } from './http-framing.ts'

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: number[]) => new TextDecoder().decode(new Uint8Array(data))

/** What a reader of Docker's answer to `request` makes of `pieces`: the head, the body, whether it ended. */
function read(request: string, pieces: Uint8Array[]) {
  let head: { status: number; start: string; framing: BodyFraming } | undefined
  const body: number[] = []
  let ends = 0
  const answers: AnswerSink = {
    head: (status, h, framing) => {
      head = { status, start: h.start, framing }
    },
    body: (data) => body.push(...data),
    end: () => ends++,
  }
  const conversation = new DockerConversation(() => {}, answers)
  conversation.fromClient(bytes(request))
  for (const piece of pieces) conversation.fromDocker(piece)
  return { head, body: text(body), ends }
}

/** `message` whole, cut in two at every point, and fed one byte at a time. */
function splits(message: string): Uint8Array[][] {
  const all = bytes(message)
  const ways = [[all], [...all].map((b) => new Uint8Array([b]))]
  for (let at = 0; at <= all.length; at++) ways.push([all.subarray(0, at), all.subarray(at)])
  return ways
}

const GET = 'GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n'

describe("a conversation's answers, split anywhere", () => {
  it('hands on a body of a declared length, then its end', () => {
    for (const pieces of splits(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
    )) {
      expect(read(GET, pieces)).toEqual({
        head: { status: 200, start: 'HTTP/1.1 200 OK', framing: { length: 5 } },
        body: 'hello',
        ends: 1,
      })
    }
  })

  it('hands on a chunked body unchunked, extensions and trailers left out', () => {
    const message =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n'
    for (const pieces of splits(message)) {
      expect(read(GET, pieces)).toMatchObject({ head: { framing: 'chunked' }, body: 'hello, world', ends: 1 })
    }
  })

  it('hands on a body without a length as raw, which no end closes but the connection', () => {
    for (const pieces of splits(
      'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nNo such container: x\r\n',
    )) {
      expect(read(GET, pieces)).toMatchObject({
        head: { status: 404, framing: 'raw' },
        body: 'No such container: x\r\n',
        ends: 0,
      })
    }
  })

  it('hands on what follows a 101 as the upgraded stream', () => {
    const attach =
      'POST /containers/c/attach?stream=1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n'
    const frame = '\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0002x\n'
    for (const pieces of splits(
      `HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n${frame}`,
    )) {
      expect(read(attach, pieces)).toMatchObject({
        head: { status: 101, start: 'HTTP/1.1 101 UPGRADED', framing: 'raw' },
        body: frame,
        ends: 0,
      })
    }
  })

  it('skips an interim 100 Continue: the head and end are the answer', () => {
    for (const pieces of splits(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}',
    )) {
      expect(read(GET, pieces)).toMatchObject({ head: { status: 201 }, body: '{}', ends: 1 })
    }
  })

  it('hands on no body for HEAD, a 204 or a 304, whatever the fields say', () => {
    const ping = read('HEAD /_ping HTTP/1.1\r\n\r\n', [bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n')])
    expect(ping).toMatchObject({ head: { status: 200, framing: 'none' }, body: '', ends: 1 })
    for (const answer of ['HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\n\r\n']) {
      expect(read(GET, [bytes(answer)])).toMatchObject({ head: { framing: 'none' }, body: '', ends: 1 })
    }
  })

  it('refuses an answer that is not HTTP/1.1', () => {
    expect(() => read(GET, [bytes('SSH-2.0-OpenSSH\r\n\r\n')])).toThrow(FramingError)
    expect(() => read(GET, [bytes('HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n')])).toThrow(FramingError)
    expect(() => read(GET, [bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')])).toThrow(
      FramingError,
    )
  })
})

describe('httpHead', () => {
  it('writes the start line and fields in order', () => {
    const head = httpHead('POST /v1.41/containers/create?name=a HTTP/1.1', [
      ['Host', 'docker'],
      ['Content-Length', '2'],
    ])
    expect(new TextDecoder().decode(head)).toBe(
      'POST /v1.41/containers/create?name=a HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n',
    )
  })

  it('refuses a line that would split the head', () => {
    expect(() => httpHead('GET / HTTP/1.1', [['X', 'a\r\nHost: evil']])).toThrow(FramingError)
    expect(() => httpHead('GET /\r\nX: y HTTP/1.1', [])).toThrow(FramingError)
  })
})

describe('endToEnd', () => {
  it('drops hop-by-hop fields and those Connection names', () => {
    const kept = endToEnd([
      ['Connection', 'keep-alive, X-Private'],
      ['Keep-Alive', 'timeout=5'],
      ['Transfer-Encoding', 'chunked'],
      ['X-Private', 'p'],
      ['Upgrade', 'tcp'],
      ['Content-Type', 'application/json'],
      ['Api-Version', '1.41'],
    ])
    expect(kept).toEqual([
      ['Content-Type', 'application/json'],
      ['Api-Version', '1.41'],
    ])
  })
})

describe('chunkedEncoder', () => {
  it('frames each piece and ends with the last chunk, which a conversation reads back', async () => {
    const pieces = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of ['hello', '', ', world']) controller.enqueue(bytes(piece))
        controller.close()
      },
    })
    const body = new Uint8Array(await new Response(pieces.pipeThrough(chunkedEncoder())).arrayBuffer())
    const got = read(GET, [bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), body])
    expect(got).toMatchObject({ body: 'hello, world', ends: 1 })
  })
})
