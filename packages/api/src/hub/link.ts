import {
  type AgentError,
  CLOSE_CODES,
  decodeFrame,
  decodeTunnelData,
  ERROR_CODES,
  type ErrorKind,
  encodeFrame,
  encodeTunnelData,
  isErrorCode,
  newId,
  type OpArgs,
  type OpName,
  type OpResult,
  ops,
  STREAM_WINDOW_BYTES,
  type ToAgentBody,
  type TunnelOpName,
  toApi,
} from '@berth/shared'
import { ApiError } from '../errors.ts'

export { CLOSE_CODES }

import type { AgentEventFrame, AgentStream, AgentTunnel, Hello, JobFrame, StatsFrame } from './hub.ts'
import { ChunkQueue } from './stream.ts'
import { LinkTunnel } from './tunnel.ts'

/** The transport under a link: a WebSocket on Node, a hibernatable one in a Durable Object. */
export interface LinkSocket {
  send(text: string): void
  /** A binary frame: a tunnel's bytes. */
  sendBytes(data: Uint8Array): void
  close(code: number, reason: string): void
}

export interface LinkHooks {
  hello(hello: Hello): void
  event(event: AgentEventFrame): void
  stats(stats: StatsFrame): void
  /** Progress of a long job (a deploy) on the agent. */
  job(job: JobFrame): void
  /** A frame that did not parse; the link is closed after it. */
  invalid(): void
}

interface Pending {
  op: OpName
  resolve(value: unknown): void
  reject(err: ApiError): void
  timer: ReturnType<typeof setTimeout>
}

/**
 * One agent's connection as the API sees it, whatever carries it: answers heartbeats,
 * matches results to calls, fails pending calls when the link ends.
 */
export class AgentLink {
  lastSeen: number
  /** When lastSeen was last written to the database. */
  lastRecorded: number
  hello: Hello | null = null
  private readonly pending = new Map<string, Pending>()
  private readonly streams = new Map<string, ChunkQueue>()
  private readonly tunnels = new Map<string, LinkTunnel>()
  private closed = false

  constructor(
    readonly serverId: string,
    private readonly socket: LinkSocket,
    private readonly hooks: LinkHooks,
    now: number,
  ) {
    this.lastSeen = now
    this.lastRecorded = now
  }

  get isClosed(): boolean {
    return this.closed
  }

  send(frame: ToAgentBody): void {
    this.socket.send(encodeFrame(frame))
  }

  receive(text: string, now: number): void {
    this.lastSeen = now
    const frame = decodeFrame(toApi, text)
    if (!frame) {
      this.hooks.invalid()
      return
    }
    switch (frame.type) {
      case 'hello':
        this.hello = frame
        this.hooks.hello(frame)
        return
      case 'heartbeat':
        this.send({ type: 'heartbeat_ack', seq: frame.seq })
        return
      case 'result':
        this.settle(frame)
        return
      case 'chunk':
        this.streams
          .get(frame.id)
          ?.push({ stream: frame.stream, data: frame.data, encoding: frame.encoding ?? 'utf8' })
        return
      case 'end': {
        const failure = frame.error ? toApiError('stream', frame.error) : undefined
        const tunnel = this.tunnels.get(frame.id)
        if (tunnel && this.tunnels.delete(frame.id)) {
          tunnel.end(failure)
          return
        }
        const stream = this.streams.get(frame.id)
        if (!stream) return
        this.streams.delete(frame.id)
        stream.end(frame.exitCode, failure)
        return
      }
      case 'credit':
        this.tunnels.get(frame.id)?.grant(frame.bytes)
        return
      case 'event':
        this.hooks.event(frame)
        return
      case 'stats':
        this.hooks.stats(frame)
        return
      case 'job':
        this.hooks.job(frame)
        return
      default:
        frame satisfies never
    }
  }

  /** A binary frame: bytes of one of this link's tunnels. */
  receiveBytes(data: Uint8Array, now: number): void {
    this.lastSeen = now
    const decoded = decodeTunnelData(data)
    if (!decoded) {
      this.hooks.invalid()
      return
    }
    this.tunnels.get(decoded.id)?.push(decoded.data)
  }

  call<O extends OpName>(op: O, args: OpArgs<O>, timeoutMs: number): Promise<OpResult<O>> {
    if (this.closed) return Promise.reject(offline(this.serverId))
    const id = newId('call')
    return new Promise<OpResult<O>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        this.send({ type: 'cancel', id })
        reject(new ApiError('timeout', `the agent did not answer ${op} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { op, resolve: resolve as (value: unknown) => void, reject, timer })
      this.send({ type: 'call', id, op, args, timeoutMs })
    })
  }

  /** Starts a stream op; its chunks are queued until read, and credited back as they are. */
  open<O extends OpName>(op: O, args: OpArgs<O>, opts: { stallMs?: number } = {}): AgentStream {
    if (this.closed) throw offline(this.serverId)
    const id = newId('call')
    const stream = new ChunkQueue(
      () => {
        if (this.streams.delete(id)) this.send({ type: 'cancel', id })
      },
      (message) => {
        if (this.streams.has(id)) this.send({ ...message, id })
      },
      {
        credit: (bytes) => {
          if (this.streams.has(id)) this.send({ type: 'credit', id, bytes })
        },
        creditBatch: STREAM_WINDOW_BYTES / 4,
        ...opts,
      },
    )
    this.streams.set(id, stream)
    // Streams run until they end or are cancelled; the timeout only bounds the agent's bookkeeping.
    this.send({ type: 'call', id, op, args, timeoutMs: 2_147_483_647 })
    return stream
  }

  /** Opens a tunnel op: a connection on the host whose bytes go both ways within the window. */
  tunnel(op: TunnelOpName): AgentTunnel {
    if (this.closed) throw offline(this.serverId)
    const id = newId('call')
    const tunnel = new LinkTunnel(
      {
        send: (data) => {
          if (this.tunnels.has(id)) this.socket.sendBytes(encodeTunnelData(id, data))
        },
        eof: () => {
          if (this.tunnels.has(id)) this.send({ type: 'eof', id })
        },
        credit: (bytes) => {
          if (this.tunnels.has(id)) this.send({ type: 'credit', id, bytes })
        },
        cancel: () => {
          if (this.tunnels.delete(id)) this.send({ type: 'cancel', id })
        },
      },
      STREAM_WINDOW_BYTES,
    )
    this.tunnels.set(id, tunnel)
    this.send({ type: 'call', id, op, args: {}, timeoutMs: 2_147_483_647 })
    return tunnel
  }

  /** Ends the link: pending calls fail as offline, the socket is closed with the code given. */
  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(offline(this.serverId))
      this.pending.delete(id)
    }
    for (const stream of this.streams.values()) stream.end(undefined, offline(this.serverId))
    this.streams.clear()
    for (const tunnel of this.tunnels.values()) tunnel.end(offline(this.serverId))
    this.tunnels.clear()
    try {
      this.socket.close(code, reason)
    } catch {
      // already closed underneath
    }
  }

  private settle(frame: Extract<ReturnType<typeof decodeFrame<typeof toApi>>, { type: 'result' }>): void {
    const p = this.pending.get(frame.id)
    if (!p) return // answered after its timeout, or a duplicate
    this.pending.delete(frame.id)
    clearTimeout(p.timer)
    if (!frame.ok) {
      p.reject(toApiError(p.op, frame.error))
      return
    }
    const parsed = ops[p.op].result.safeParse(frame.data)
    if (parsed.success) p.resolve(parsed.data)
    else p.reject(new ApiError('agent_error', `the agent sent a malformed result for ${p.op}`))
  }
}

/** An agent's error as the API answers it: Docker's or the agent's message goes into details. */
function toApiError(op: string, error: AgentError): ApiError {
  const { kind, message, code, details } = error
  if (kind === 'agent_error' || kind === 'timeout') {
    return new ApiError(kind, `the agent could not ${op}`, { details: { message, ...asObject(details) } })
  }
  // A code this API does not know for that kind (an agent of another version) leaves the kind alone.
  const known = code !== undefined && isErrorCode(code) && ERROR_CODES[code] === kind
  return new ApiError<ErrorKind>(kind, message, { code: known ? code : undefined, details })
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

export function offline(serverId: string): ApiError {
  return new ApiError('agent_offline', `the agent of server ${serverId} is not connected`)
}
