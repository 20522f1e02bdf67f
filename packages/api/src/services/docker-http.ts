import type { RawConnection } from '../context.ts'
import { ApiError } from '../errors.ts'
import {
  chunkedEncoder,
  endToEnd,
  type HeaderList,
  HttpParseError,
  httpHead,
  type ResponseEvent,
  ResponseParser,
} from '../lib/http1.ts'

// Docker's Engine API over plain HTTP: each request to /servers/:id/docker-api/… is written as an
// HTTP/1.1 request on its own connection to the host's Docker socket, and Docker's response is
// read back and streamed to the client. An `Upgrade: tcp` request (attach, exec start) is spliced
// to the client's raw connection once Docker answers 101.

/** A connection to Docker on a host: its bytes both ways (an agent tunnel). */
export type DockerConnection = RawConnection

/** A client's request as it is relayed: `target` is the path after docker-api, with its query. */
export interface DockerRequest {
  method: string
  target: string
  headers: Headers
  body: ReadableStream<Uint8Array> | null
}

/** Docker's response: its status, its end-to-end fields, its body as it arrives. */
export interface DockerResponse {
  status: number
  headers: HeaderList
  /** The body's length when Docker declared it. */
  length: number | null
  body: ReadableStream<Uint8Array> | null
}

/** Fields never passed to Docker: Berth's credential, and what the relay frames itself. */
const NOT_FORWARDED = new Set(['authorization', 'host', 'content-length', 'expect'])

/** Fields never passed back: how Docker framed its body, which the relay's own response frames again. */
const NOT_RETURNED = new Set(['content-length'])

/**
 * Relays one request over `connection`, which it closes when the response ends, the client goes
 * away, or `done` hears the relay failed; `done` is called once, either way.
 */
export async function relayDockerRequest(
  connection: DockerConnection,
  request: DockerRequest,
  done: () => void,
): Promise<DockerResponse> {
  let finished = false
  const finish = () => {
    if (finished) return
    finished = true
    connection.close()
    done()
  }
  try {
    const { head, body } = framing(request, [])
    const writer = connection.writable.getWriter()
    await writer.write(head)
    writer.releaseLock()
    // Not closed after the body: Docker takes a half-closed connection as a client gone and stops.
    if (body) void sendBody(body, connection.writable).catch(finish)
    const response = await readResponse(connection, request.method === 'HEAD')
    const length = declaredLength(response.headers)
    if (!response.body) finish()
    return {
      status: response.status,
      headers: response.headers.filter(([name]) => !NOT_RETURNED.has(name.toLowerCase())),
      length,
      body: response.body ? watched(response.body, finish) : null,
    }
  } catch (err) {
    finish()
    throw err
  }
}

/**
 * Relays an `Upgrade: tcp` request from a client's raw connection: writes Docker's answer to it,
 * and after a 101 moves bytes both ways until both sides ended (the client's end half-closes
 * Docker's side, so stdin ends). Closes both connections when it is over.
 */
export async function spliceDockerUpgrade(
  connection: DockerConnection,
  client: RawConnection,
  request: Omit<DockerRequest, 'body'>,
): Promise<void> {
  const length = declaredLength([...request.headers])
  const reader = client.readable.getReader()
  try {
    const { head } = framing({ ...request, body: null }, [
      ['Connection', 'Upgrade'],
      ['Upgrade', 'tcp'],
      ...(length ? ([['Content-Length', String(length)]] as HeaderList) : []),
    ])
    const writer = connection.writable.getWriter()
    await writer.write(head)
    // The request's own body first; anything after it waits until Docker has switched protocols.
    let extra = await copyExactly(reader, writer, length ?? 0)
    writer.releaseLock()
    const response = await readResponse(connection, false)
    const out = client.writable.getWriter()
    const switched = response.status === 101
    await out.write(
      httpHead(`HTTP/1.1 ${response.status} ${response.reason}`, [
        ...endToEnd(response.headers).filter(([name]) => !NOT_RETURNED.has(name.toLowerCase())),
        ...((switched
          ? [
              ['Connection', 'Upgrade'],
              ['Upgrade', 'tcp'],
            ]
          : [['Connection', 'close']]) as HeaderList),
      ]),
    )
    out.releaseLock()
    if (!switched) {
      if (response.body) await response.body.pipeTo(client.writable)
      else await client.writable.close()
      return
    }
    const upstream = (async () => {
      const toDocker = connection.writable.getWriter()
      if (extra.length > 0) await toDocker.write(extra)
      extra = new Uint8Array(0)
      for (;;) {
        const next = await reader.read()
        if (next.done) break
        await toDocker.write(next.value)
      }
      await toDocker.close()
    })()
    const downstream = response.rest!.pipeTo(client.writable)
    await Promise.all([upstream, downstream])
  } finally {
    connection.close()
    client.close()
  }
}

/** A request's head as written to Docker, and its body framed for it (chunked when no length was given). */
function framing(request: DockerRequest, extra: HeaderList) {
  const length = declaredLength([...request.headers])
  const headers: HeaderList = [['Host', 'docker']]
  for (const [name, value] of endToEnd(request.headers)) {
    if (!NOT_FORWARDED.has(name.toLowerCase())) headers.push([name, value])
  }
  let body = request.body
  if (length !== null) headers.push(['Content-Length', String(length)])
  else if (body) {
    headers.push(['Transfer-Encoding', 'chunked'])
    body = body.pipeThrough(chunkedEncoder())
  }
  const head = httpHead(`${request.method} ${request.target} HTTP/1.1`, [...headers, ...extra])
  return { head, body: length === 0 ? null : body }
}

async function sendBody(body: ReadableStream<Uint8Array>, writable: WritableStream<Uint8Array>) {
  const reader = body.getReader()
  const writer = writable.getWriter()
  try {
    for (;;) {
      const next = await reader.read()
      if (next.done) return
      await writer.write(next.value)
    }
  } finally {
    writer.releaseLock()
  }
}

/** Passes exactly `count` bytes from `reader` to `writer`; returns what it read past them. */
async function copyExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  count: number,
): Promise<Uint8Array> {
  let left = count
  while (left > 0) {
    const next = await reader.read()
    if (next.done)
      throw new ApiError('validation_error', 'the request body ended short of its Content-Length', {
        code: 'malformed_request',
      })
    const piece = next.value
    await writer.write(piece.subarray(0, Math.min(left, piece.length)))
    if (piece.length > left) return piece.subarray(left)
    left -= piece.length
  }
  return new Uint8Array(0)
}

/** The Content-Length `headers` declare, null when none; a malformed one is the client's 400. */
function declaredLength(headers: Iterable<[string, string]>): number | null {
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'content-length') continue
    if (!/^\d{1,15}$/.test(value.trim())) {
      throw new ApiError('validation_error', 'the Content-Length header is not a number', {
        code: 'malformed_request',
      })
    }
    return Number(value.trim())
  }
  return null
}

interface ReadResponse {
  status: number
  reason: string
  headers: HeaderList
  /** The body, or null when the response has none. */
  body: ReadableStream<Uint8Array> | null
  /** After a 101: the upgraded connection's bytes from Docker. */
  rest: ReadableStream<Uint8Array> | null
}

/** Reads Docker's response head from `connection`, and hands back its body as a stream of what follows. */
async function readResponse(connection: DockerConnection, noBody: boolean): Promise<ReadResponse> {
  const parser = new ResponseParser(noBody)
  const reader = connection.readable.getReader()
  const queued: ResponseEvent[] = []
  let head: Extract<ResponseEvent, { type: 'head' }> | undefined
  while (!head) {
    const next = await reader.read()
    queued.push(...parse(() => (next.done ? parser.finish() : parser.feed(next.value))))
    const at = queued.findIndex((event) => event.type === 'head')
    if (at >= 0) head = queued.splice(at, 1)[0] as typeof head
  }
  const ended = queued.find((event) => event.type === 'end')
  if (head!.status === 101) {
    const first = ended?.type === 'end' ? ended.rest : new Uint8Array(0)
    return { ...head!, body: null, rest: prepend(first, reader) }
  }
  if (ended && !queued.some((event) => event.type === 'body' && event.bytes.length > 0)) {
    reader.releaseLock()
    return { ...head!, body: null, rest: null }
  }
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const event = queued.shift()
        if (event?.type === 'body') {
          if (event.bytes.length === 0) continue
          controller.enqueue(event.bytes)
          return
        }
        if (event?.type === 'end') {
          controller.close()
          return
        }
        const next = await reader.read()
        queued.push(...parse(() => (next.done ? parser.finish() : parser.feed(next.value))))
      }
    },
    cancel: (reason) => reader.cancel(reason),
  })
  return { ...head!, body, rest: null }
}

/** Runs the parser, turning what is not HTTP into the documented 502. */
function parse(step: () => ResponseEvent[]): ResponseEvent[] {
  try {
    return step()
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err
    throw new ApiError('agent_error', `Docker's response could not be read: ${err.message}`, {
      code: 'docker_bad_response',
    })
  }
}

function prepend(
  first: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let sent = first.length === 0
  return new ReadableStream({
    async pull(controller) {
      if (!sent) {
        sent = true
        controller.enqueue(first)
        return
      }
      const next = await reader.read()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

/** `body`, calling `finish` once it ended, failed or was cancelled. */
function watched(body: ReadableStream<Uint8Array>, finish: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  return new ReadableStream({
    async pull(controller) {
      try {
        const next = await reader.read()
        if (next.done) {
          controller.close()
          finish()
        } else controller.enqueue(next.value)
      } catch (err) {
        finish()
        controller.error(err)
      }
    },
    cancel() {
      finish()
      return reader.cancel()
    },
  })
}
