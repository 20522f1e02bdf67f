import { connect, type Socket } from 'node:net'

/** Where a plain-HTTP engine listens: a unix socket, or a host and port without TLS. */
export type PlainEndpoint = { socketPath: string } | { host: string; port: number }

/** A JSON request to Docker's API, answered in one piece (no stream, no upgrade, no file body). */
export interface PlainRequest {
  method: string
  path: string
  query: Record<string, string | number | boolean | object>
  body: unknown
  signal: AbortSignal | undefined
}

/** Docker's answer: the status, and the body parsed as JSON (text when it is not JSON, null when empty). */
export interface PlainReply {
  status: number
  body: unknown
}

/** Connections kept open between calls; more run at once when calls overlap. */
const MAX_IDLE_CONNECTIONS = 8

/**
 * Docker's API over plain HTTP/1.1 on kept-alive connections, for the JSON calls the agent makes
 * most (inspect, list, ping, create, actions). It writes and reads the socket itself: a call costs
 * about 100 µs less than through node:http's client, and much less than through docker-modem,
 * which formats every request's options for its debug log whether or not that log is on.
 */
export class PlainDockerHttp {
  private readonly idle: Socket[] = []
  private closed = false

  constructor(private readonly endpoint: PlainEndpoint) {}

  async send(req: PlainRequest): Promise<PlainReply> {
    const message = requestMessage(req)
    const reused = this.idle.pop()
    if (reused) {
      reused.ref()
      try {
        return await this.exchange(reused, message, req)
      } catch (err) {
        // The engine may close a kept-alive connection just as it is reused; a request it never
        // answered is sent again on a new connection when repeating it is harmless.
        if (!(err instanceof Unanswered && IDEMPOTENT.has(req.method))) throw unwrapped(err)
      }
    }
    try {
      return await this.exchange(this.open(), message, req)
    } catch (err) {
      throw unwrapped(err)
    }
  }

  /** Closes the kept-alive connections; calls after this open (and then close) their own. */
  close(): void {
    this.closed = true
    for (const socket of this.idle.splice(0)) socket.destroy()
  }

  private open(): Socket {
    const socket =
      'socketPath' in this.endpoint
        ? connect(this.endpoint.socketPath)
        : connect(this.endpoint.port, this.endpoint.host)
    socket.setNoDelay(true)
    // An idle connection the engine closes, or that fails, just leaves the pool.
    socket.on('error', () => {})
    socket.on('close', () => {
      const at = this.idle.indexOf(socket)
      if (at !== -1) this.idle.splice(at, 1)
    })
    return socket
  }

  private exchange(socket: Socket, message: Buffer, req: PlainRequest): Promise<PlainReply> {
    const { signal } = req
    return new Promise((resolve, reject) => {
      const reply = new ReplyReader(req.method === 'HEAD')
      let answered = false
      const finish = (err: unknown, done?: Done) => {
        socket.off('data', onData)
        socket.off('end', onEnd)
        socket.off('close', onEnd)
        socket.off('error', onError)
        signal?.removeEventListener('abort', onAbort)
        if (err !== undefined || !done) {
          socket.destroy()
          reject(err)
          return
        }
        if (done.keepAlive && !this.closed && this.idle.length < MAX_IDLE_CONNECTIONS) {
          socket.unref()
          this.idle.push(socket)
        } else {
          socket.destroy()
        }
        resolve({ status: done.status, body: parseBody(done.body, done.contentType) })
      }
      const onData = (piece: Buffer) => {
        answered = true
        let done: Done | null
        try {
          done = reply.push(piece)
        } catch (err) {
          finish(err)
          return
        }
        if (done) finish(undefined, done)
      }
      // The end of the connection ends a body that runs until it, and fails any other answer.
      const onEnd = () => {
        const done = reply.end()
        if (done) {
          finish(undefined, done)
          return
        }
        const cause = new Error('Docker closed the connection before it answered')
        finish(answered ? cause : new Unanswered(cause))
      }
      const onError = (err: Error) => finish(answered ? err : new Unanswered(err))
      const onAbort = () => finish(new DOMException('The operation was aborted', 'AbortError'))
      if (signal?.aborted) {
        onAbort()
        return
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.on('data', onData)
      socket.on('end', onEnd)
      socket.on('close', onEnd)
      socket.on('error', onError)
      socket.write(message)
    })
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE'])

/** A failure before any byte of the answer arrived; `cause` is what the caller is told. */
class Unanswered extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message)
  }
}

const unwrapped = (err: unknown) => (err instanceof Unanswered ? err.cause : err)

function requestMessage(req: PlainRequest): Buffer {
  const payload = req.body === undefined ? null : Buffer.from(JSON.stringify(req.body))
  let head = `${req.method} ${pathWithQuery(req.path, req.query)} HTTP/1.1\r\nHost: docker\r\n`
  if (payload) head += `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n`
  else if (req.method === 'POST' || req.method === 'PUT') head += 'Content-Length: 0\r\n'
  head += '\r\n'
  return payload ? Buffer.concat([Buffer.from(head, 'latin1'), payload]) : Buffer.from(head, 'latin1')
}

/** The query as docker-modem writes it: objects (filters) as JSON, the rest as text. */
function pathWithQuery(path: string, query: PlainRequest['query']): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    params.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value))
  }
  const text = params.toString()
  return text ? `${path}?${text}` : path
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return null
  if (!contentType?.includes('json')) return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

interface Done {
  status: number
  body: string
  contentType: string | undefined
  keepAlive: boolean
}

const HEAD_END = Buffer.from('\r\n\r\n')
const LINE_END = Buffer.from('\r\n')
const MAX_HEAD_BYTES = 64 * 1024

/**
 * Reads one HTTP/1.1 response as its bytes arrive: the status line and headers, then a body of
 * Content-Length bytes, in chunks, or up to the end of the connection.
 */
class ReplyReader {
  private buffer: Buffer = Buffer.alloc(0)
  private head: { status: number; contentType: string | undefined; keepAlive: boolean } | null = null
  private mode: { kind: 'length'; bytes: number } | { kind: 'chunked' } | { kind: 'until-close' } = {
    kind: 'until-close',
  }
  private readonly parts: Buffer[] = []

  constructor(private readonly headRequest: boolean) {}

  /** Takes the next bytes; the whole answer once it is complete, else null. */
  push(piece: Buffer): Done | null {
    this.buffer = this.buffer.length === 0 ? piece : Buffer.concat([this.buffer, piece])
    if (!this.head && !this.readHead()) return null
    return this.readBody()
  }

  /** The connection ended: the answer, when ending it was how its body ends. */
  end(): Done | null {
    if (!this.head || this.mode.kind !== 'until-close') return null
    this.parts.push(this.buffer)
    return this.done(false)
  }

  private readHead(): boolean {
    for (;;) {
      const end = this.buffer.indexOf(HEAD_END)
      if (end === -1) {
        if (this.buffer.length > MAX_HEAD_BYTES)
          throw new Error('Docker sent an answer without an end to its headers')
        return false
      }
      const lines = this.buffer.toString('latin1', 0, end).split('\r\n')
      this.buffer = this.buffer.subarray(end + HEAD_END.length)
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1])
      if (!Number.isInteger(status)) throw new Error('Docker sent something other than an HTTP answer')
      if (status >= 100 && status < 200) continue // an interim answer; the real one follows
      const headers = new Map<string, string>()
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':')
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
      }
      const connection = headers.get('connection')?.toLowerCase()
      this.head = { status, contentType: headers.get('content-type'), keepAlive: connection !== 'close' }
      const length = headers.get('content-length')
      if (this.headRequest || status === 204 || status === 304) this.mode = { kind: 'length', bytes: 0 }
      else if (headers.get('transfer-encoding')?.toLowerCase().includes('chunked'))
        this.mode = { kind: 'chunked' }
      else if (length !== undefined && /^\d+$/.test(length))
        this.mode = { kind: 'length', bytes: Number(length) }
      else this.mode = { kind: 'until-close' }
      return true
    }
  }

  private readBody(): Done | null {
    const mode = this.mode
    if (mode.kind === 'until-close') return null
    if (mode.kind === 'length') {
      if (this.buffer.length < mode.bytes) return null
      this.parts.push(this.buffer.subarray(0, mode.bytes))
      return this.done(this.buffer.length === mode.bytes)
    }
    for (;;) {
      const lineEnd = this.buffer.indexOf(LINE_END)
      if (lineEnd === -1) return null
      const size = Number.parseInt(this.buffer.toString('latin1', 0, lineEnd).split(';')[0] ?? '', 16)
      if (!Number.isInteger(size) || size < 0) throw new Error('Docker sent a malformed chunk')
      const start = lineEnd + LINE_END.length
      if (size === 0) {
        // The last chunk's line, any trailer lines, then an empty line.
        const end = this.buffer.indexOf(HEAD_END, lineEnd)
        if (end === -1) return null
        return this.done(this.buffer.length === end + HEAD_END.length)
      }
      if (this.buffer.length < start + size + LINE_END.length) return null
      this.parts.push(this.buffer.subarray(start, start + size))
      this.buffer = this.buffer.subarray(start + size + LINE_END.length)
    }
  }

  /** `clean`: nothing followed the answer, so the connection can carry the next request. */
  private done(clean: boolean): Done {
    const head = this.head as NonNullable<typeof this.head>
    const body = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts)
    return {
      status: head.status,
      body: (body ?? Buffer.alloc(0)).toString('utf8'),
      contentType: head.contentType,
      keepAlive: head.keepAlive && clean,
    }
  }
}
