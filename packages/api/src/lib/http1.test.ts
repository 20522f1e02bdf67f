import { describe, expect, it } from 'vitest'
import { chunkedEncoder, endToEnd, HttpParseError, httpHead, ResponseParser } from './http1.ts'

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)

/** What a reader makes of `pieces`: the head, the body, whether it ended, and what followed the end. */
function read(pieces: Uint8Array[], noBody = false) {
  const parser = new ResponseParser(noBody)
  let head: { status: number; reason: string; headers: [string, string][] } | undefined
  const body: number[] = []
  const rest: number[] = []
  let ended = false
  const take = (events: ReturnType<ResponseParser['feed']>) => {
    for (const event of events) {
      if (event.type === 'head') head = event
      else if (event.type === 'body') body.push(...event.bytes)
      else {
        ended = true
        rest.push(...event.rest)
      }
    }
  }
  for (const piece of pieces) {
    // Past the end the stream is no longer HTTP (an upgrade): its bytes are the reader's.
    if (ended) rest.push(...piece)
    else take(parser.feed(piece))
  }
  if (!ended) take(parser.finish())
  return { head, body: text(new Uint8Array(body)), ended, rest: text(new Uint8Array(rest)) }
}

/** `message` cut in two at every point, and fed one byte at a time. */
function splits(message: string): Uint8Array[][] {
  const all = bytes(message)
  const ways = [[all], [...all].map((b) => new Uint8Array([b]))]
  for (let at = 0; at <= all.length; at++) ways.push([all.subarray(0, at), all.subarray(at)])
  return ways
}

describe('ResponseParser', () => {
  it('reads a body of a declared length, split anywhere', () => {
    for (const pieces of splits(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
    )) {
      const got = read(pieces)
      expect(got.head).toMatchObject({
        status: 200,
        reason: 'OK',
        headers: [
          ['Content-Type', 'text/plain'],
          ['Content-Length', '5'],
        ],
      })
      expect(got).toMatchObject({ body: 'hello', ended: true, rest: '' })
    }
  })

  it('reads a chunked body with extensions and trailers, split anywhere', () => {
    const message =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n'
    for (const pieces of splits(message)) {
      expect(read(pieces)).toMatchObject({
        head: { status: 200 },
        body: 'hello, world',
        ended: true,
        rest: '',
      })
    }
  })

  it('reads a body without a length until the connection closes, split anywhere', () => {
    for (const pieces of splits(
      'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nNo such container: x\r\n',
    )) {
      expect(read(pieces)).toMatchObject({
        head: { status: 404 },
        body: 'No such container: x\r\n',
        ended: true,
      })
    }
  })

  it('ends at a 101 and hands over the upgraded bytes that came with it, split anywhere', () => {
    const message =
      'HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0002x\n'
    for (const pieces of splits(message)) {
      const got = read(pieces)
      expect(got).toMatchObject({ head: { status: 101, reason: 'UPGRADED' }, body: '', ended: true })
      expect(got.rest).toBe('\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0002x\n')
    }
  })

  it('skips an interim 100 Continue, split anywhere', () => {
    for (const pieces of splits(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}',
    )) {
      expect(read(pieces)).toMatchObject({ head: { status: 201 }, body: '{}', ended: true })
    }
  })

  it('reads no body for a HEAD request, a 204 or a 304, whatever the fields say', () => {
    const ping = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n'
    expect(read([bytes(ping)], true)).toMatchObject({ head: { status: 200 }, body: '', ended: true })
    expect(read([bytes('HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n')])).toMatchObject({
      body: '',
      ended: true,
    })
    expect(read([bytes('HTTP/1.1 304 Not Modified\r\n\r\n')])).toMatchObject({ body: '', ended: true })
    expect(read([bytes('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')])).toMatchObject({
      body: '',
      ended: true,
    })
  })

  it('refuses what is not an HTTP/1.x response', () => {
    expect(() => read([bytes('SSH-2.0-OpenSSH\r\n\r\n')])).toThrow(HttpParseError)
    expect(() => read([bytes('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n')])).toThrow(HttpParseError)
    expect(() => read([bytes('HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n')])).toThrow(HttpParseError)
    expect(() => read([bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')])).toThrow(
      HttpParseError,
    )
    expect(() => read([bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n')])).toThrow(
      HttpParseError,
    )
    expect(() => read([bytes(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`)])).toThrow(/too large/)
  })

  it('refuses a response cut short, but not a body read until close', () => {
    expect(() => read([bytes('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel')])).toThrow(/cut short/)
    expect(() => read([bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel')])).toThrow(
      /cut short/,
    )
    expect(() => read([bytes('HTTP/1.1 200 OK\r\nContent-')])).toThrow(/before a response/)
    expect(() => read([])).toThrow(/before a response/)
  })

  it('refuses bytes after a complete response', () => {
    const parser = new ResponseParser()
    expect(() => parser.feed(bytes('HTTP/1.1 204 No Content\r\n\r\n'))).not.toThrow()
    expect(() => parser.feed(bytes('HTTP/1.1 200 OK\r\n'))).toThrow(/after the end/)
  })
})

describe('httpHead', () => {
  it('writes the request line and fields in order', () => {
    const head = httpHead('POST /v1.41/containers/create?name=a HTTP/1.1', [
      ['Host', 'docker'],
      ['Content-Length', '2'],
    ])
    expect(text(head)).toBe(
      'POST /v1.41/containers/create?name=a HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n',
    )
  })

  it('refuses a field that would split the head', () => {
    expect(() => httpHead('GET / HTTP/1.1', [['X', 'a\r\nHost: evil']])).toThrow(HttpParseError)
    expect(() => httpHead('GET /\r\nX: y HTTP/1.1', [])).toThrow(HttpParseError)
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
  it('frames each piece and ends with the last chunk, which the parser reads back', async () => {
    const pieces = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of ['hello', '', ', world']) controller.enqueue(bytes(piece))
        controller.close()
      },
    })
    const framed = new Response(pieces.pipeThrough(chunkedEncoder()))
    const body = new Uint8Array(await framed.arrayBuffer())
    const got = read([bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), body])
    expect(got).toMatchObject({ body: 'hello, world', ended: true })
  })
})
