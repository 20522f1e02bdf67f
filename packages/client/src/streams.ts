import { BerthError, type ErrorBody, errorBodyOf, localError } from './errors.ts'
import { apiUrl, type Endpoint, type Query, request } from './http.ts'
import { type ServerSentEvent, SseParser } from './sse.ts'

// The API's streams for a program: server-sent events as an async iterator, and the exec
// WebSocket as a terminal object.

export interface FollowOptions {
  query?: Query
  /** Ends the iteration (quietly) and closes the stream. */
  signal?: AbortSignal
  /** Resumes after this event id (`Last-Event-ID`). */
  lastEventId?: string
}

/**
 * The events of an SSE endpoint as they come, until the stream ends or `signal` aborts. An `error`
 * event (the API ending the stream with its error body) throws that BerthError.
 */
export async function* follow(
  client: Endpoint,
  path: string,
  options: FollowOptions = {},
): AsyncGenerator<ServerSentEvent> {
  const { signal } = options
  const headers: Record<string, string> = { Accept: 'text/event-stream' }
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = options.lastEventId
  let res: Response
  try {
    res = await request(client, path, { query: options.query, headers, signal })
  } catch (err) {
    if (signal?.aborted) return
    throw err
  }
  if (!res.body) return
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  const parser = new SseParser()
  try {
    while (true) {
      let chunk: ReadableStreamReadResult<string>
      try {
        chunk = await reader.read()
      } catch (err) {
        if (signal?.aborted) return
        throw localError(
          'connection_lost',
          `the stream broke off: ${err instanceof Error ? err.message : String(err)}`,
        )
      }
      if (chunk.done) return
      for (const event of parser.push(chunk.value)) {
        if (event.event === 'error') throw new BerthError(JSON.parse(event.data) as ErrorBody)
        yield event
      }
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
}

/** The exec WebSocket's signals (docs/api.md, Terminal). */
export type TerminalSignal = 'INT' | 'TERM' | 'KILL' | 'HUP' | 'QUIT'

/** A process in a container, as its terminal. */
export interface Terminal {
  write(data: string | Uint8Array): void
  resize(cols: number, rows: number): void
  signal(name: TerminalSignal): void
  /** Output as it comes; what came before the first callback is handed to it first. */
  onData(cb: (data: Uint8Array, stream: 'stdout' | 'stderr') => void): void
  /** The process's exit code; rejects with the BerthError of a terminal the API ended. */
  exit: Promise<number>
  /** Ends the process (closing the socket ends it on the host). */
  close(): void
}

/** The part of a WebSocket a terminal uses: the platform's, or the `ws` package's. */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: string, listener: (event: never) => void): void
}

/** A WebSocket constructor: `ws` takes headers in a third argument, the platform's does not. */
export type WebSocketClass = new (url: string, protocols?: string[], options?: object) => SocketLike

export interface TerminalOptions {
  query?: Query
  /** The WebSocket to use; Node 20 has none of its own (pass `ws`). */
  WebSocket?: WebSocketClass
  /**
   * How the bearer goes: `header` (Authorization, which `ws` can set) or `protocol` (the
   * `bearer.<token>` subprotocol, for the platform's WebSocket). By default: `protocol` for the
   * platform's WebSocket, `header` for any other.
   */
  auth?: 'header' | 'protocol'
}

const TERMINAL_PROTOCOL = 'berth.v1'

/** Opens the exec WebSocket at `path`; resolves once it is open, or throws the API's refusal. */
export async function openTerminal(
  client: Endpoint,
  path: string,
  options: TerminalOptions = {},
): Promise<Terminal> {
  return terminalOver(await openWebSocket(client, path, { ...options, protocol: TERMINAL_PROTOCOL }))
}

export interface WebSocketOptions extends TerminalOptions {
  /** The subprotocol the endpoint speaks (the bearer one is added beside it with `auth: 'protocol'`). */
  protocol: string
  /** What the socket is, for the error when nothing answers: `the <what> could not open`. */
  what?: string
}

/**
 * Opens a WebSocket of the API at `path` with the client's token; resolves with it once it is
 * open, or throws the API's refusal (its error body) or `unreachable` when nothing answered.
 */
export async function openWebSocket(
  client: Endpoint,
  path: string,
  options: WebSocketOptions,
): Promise<SocketLike> {
  const Impl = options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketClass | undefined)
  if (!Impl) throw new TypeError('no WebSocket here: pass one (e.g. the ws package) as options.WebSocket')
  const auth = options.auth ?? (Impl === (globalThis.WebSocket as unknown) ? 'protocol' : 'header')
  const url = apiUrl(client, path, options.query)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  const protocols = [options.protocol]
  if (client.token && auth === 'protocol') protocols.push(`bearer.${client.token}`)
  const headers = client.token && auth === 'header' ? { Authorization: `Bearer ${client.token}` } : {}
  const socket = new Impl(url.toString(), protocols, { headers })
  await opened(socket, options.what ?? 'terminal')
  return socket
}

/** Waits for `open`; a refused upgrade is the API's error body when the socket shows it (`ws` does). */
function opened(socket: SocketLike, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const refused = (
      socket as { once?: (e: string, cb: (req: { destroy(): void }, res: NodeReply) => void) => void }
    ).once
    refused?.call(socket, 'unexpected-response', (req: { destroy(): void }, res: NodeReply) => {
      readReply(res).then((err) => {
        req.destroy()
        reject(err)
      })
    })
    socket.addEventListener('open', () => resolve())
    socket.addEventListener('error', (event: { message?: string }) =>
      reject(
        localError('unreachable', `the ${what} could not open: ${event.message ?? 'connection failed'}`),
      ),
    )
  })
}

/** The refused upgrade's answer as `ws` hands it over (node's IncomingMessage). */
interface NodeReply {
  statusCode?: number
  statusMessage?: string
  headers: Record<string, string | string[] | undefined>
  on(event: string, cb: (chunk?: unknown) => void): void
}

function readReply(res: NodeReply): Promise<BerthError> {
  return new Promise((resolve) => {
    let text = ''
    res.on('data', (chunk) => {
      text += String(chunk)
    })
    res.on('end', () => {
      const headers = new Headers()
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, String(v))
      const status = { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers }
      resolve(new BerthError(errorBodyOf(status, text)))
    })
  })
}

type ServerFrame =
  | { type: 'stdout' | 'stderr'; data: string; encoding?: 'utf8' | 'base64' }
  | { type: 'exit'; code: number | null }
  | { type: 'error'; error: ErrorBody }

function terminalOver(socket: SocketLike): Terminal {
  const pending: [Uint8Array, 'stdout' | 'stderr'][] = []
  let listener: ((data: Uint8Array, stream: 'stdout' | 'stderr') => void) | undefined
  let lastError: ErrorBody | undefined
  let code: number | undefined
  const send = (frame: object) => {
    if (socket.readyState === 1) socket.send(JSON.stringify(frame))
  }
  const exit = new Promise<number>((resolve, reject) => {
    socket.addEventListener('close', (event: { code?: number; reason?: string }) => {
      if (code !== undefined) resolve(code)
      else if (lastError) reject(new BerthError(lastError))
      else
        reject(
          localError('connection_lost', `the terminal closed before its process exited (${event.code ?? 0})`),
        )
    })
  })
  socket.addEventListener('message', (event: { data: unknown }) => {
    const frame = parseFrame(String(event.data))
    if (!frame) return
    if (frame.type === 'exit') {
      // A process whose code the host could not tell (killed with its container) counts as failed.
      code = frame.code ?? 1
    } else if (frame.type === 'error') {
      lastError = frame.error
    } else {
      const bytes =
        frame.encoding === 'base64' ? base64Bytes(frame.data) : new TextEncoder().encode(frame.data)
      if (listener) listener(bytes, frame.type)
      else pending.push([bytes, frame.type])
    }
  })
  return {
    write(data) {
      if (typeof data === 'string') send({ type: 'stdin', data, encoding: 'utf8' })
      else send({ type: 'stdin', data: bytesBase64(data), encoding: 'base64' })
    },
    resize: (cols, rows) => send({ type: 'resize', cols, rows }),
    signal: (name) => send({ type: 'signal', name }),
    onData(cb) {
      listener = cb
      for (const [bytes, stream] of pending.splice(0)) cb(bytes, stream)
    },
    exit,
    close() {
      send({ type: 'close' })
      socket.close(1000)
    },
  }
}

function parseFrame(text: string): ServerFrame | undefined {
  try {
    return JSON.parse(text) as ServerFrame
  } catch {
    return undefined
  }
}

function base64Bytes(data: string): Uint8Array {
  const binary = atob(data)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

function bytesBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}
