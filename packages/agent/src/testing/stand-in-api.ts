import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { AGENT_PATHS, decodeFrame, encodeFrame, type ToAgentBody, type ToApi, toApi } from '@berth/shared'
import { type WebSocket, WebSocketServer } from 'ws'

// A stand-in for the Berth API, for the agent's unit tests only: a real HTTP and WebSocket server on
// 127.0.0.1 that enrolls agents and speaks the agent protocol, so the agent runs unchanged against it.

export interface StandInServer {
  server_id: string
  agent_token: string
}

/** One agent connection as the stand-in API sees it. */
export class StandInLink {
  readonly frames: ToApi[] = []
  /** Frames from the agent that did not parse as `toApi`; a correct agent sends none. */
  invalidFrames = 0
  readonly closed: Promise<number>
  private readonly taken = new Set<number>()
  private readonly waiters = new Set<() => void>()
  private calls = 0

  constructor(
    readonly socket: WebSocket,
    readonly agentToken: string,
  ) {
    this.closed = new Promise((resolve) => socket.once('close', (code) => resolve(code)))
  }

  receive(text: string): ToApi | null {
    const frame = decodeFrame(toApi, text)
    if (!frame) this.invalidFrames++
    else this.frames.push(frame)
    for (const wake of this.waiters) wake()
    return frame
  }

  /** The first frame not taken before that matches, waiting for it up to `timeoutMs`. */
  async take<T extends ToApi['type']>(
    type: T,
    match: (frame: Extract<ToApi, { type: T }>) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<Extract<ToApi, { type: T }>> {
    const find = () => {
      for (const [index, frame] of this.frames.entries()) {
        if (this.taken.has(index) || frame.type !== type) continue
        const typed = frame as Extract<ToApi, { type: T }>
        if (match(typed)) {
          this.taken.add(index)
          return typed
        }
      }
      return null
    }
    const found = find()
    if (found) return found
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`no ${type} frame from the agent within ${timeoutMs} ms`))
      }, timeoutMs)
      const check = () => {
        const frame = find()
        if (!frame) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve(frame)
      }
      this.waiters.add(check)
    })
  }

  count(type: ToApi['type'], match: (frame: ToApi) => boolean = () => true): number {
    return this.frames.filter((f) => f.type === type && match(f)).length
  }

  send(frame: ToAgentBody): void {
    this.socket.send(encodeFrame(frame))
  }

  /** Calls an op on the agent and waits for its result. */
  async call(op: string, args: unknown, timeoutMs = 10_000): Promise<Extract<ToApi, { type: 'result' }>> {
    const id = `call_${++this.calls}`
    this.send({ type: 'call', id, op, args, timeoutMs })
    return this.take('result', (r) => r.id === id, timeoutMs + 1_000)
  }

  /** The chunks of stream `id` so far, in the order sent. */
  chunks(id: string): Extract<ToApi, { type: 'chunk' }>[] {
    return this.frames.filter(
      (f): f is Extract<ToApi, { type: 'chunk' }> => f.type === 'chunk' && f.id === id,
    )
  }

  /** The text a stream sent on `stream`, chunks decoded. */
  text(id: string, stream: 'stdout' | 'stderr' | 'data'): string {
    return this.chunks(id)
      .filter((c) => c.stream === stream)
      .map((c) => (c.encoding === 'base64' ? Buffer.from(c.data, 'base64').toString('utf8') : c.data))
      .join('')
  }
}

export class StandInApi {
  /** Enrollment tokens this API accepts once each, with the server each one enrolls. */
  readonly enrollments = new Map<string, StandInServer>()
  /** Agent tokens accepted at the WebSocket upgrade, with their server id. */
  readonly agentTokens = new Map<string, string>()
  readonly links: StandInLink[] = []
  /** Upgrades answered 401. */
  refusals = 0
  heartbeatMs = 10_000
  /** Sent in `welcome` when set. */
  statsIntervalMs: number | undefined = undefined
  welcome = true
  ackHeartbeats = true
  private readonly linkWaiters = new Set<() => void>()

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(): Promise<StandInApi> {
    const http = createServer()
    const wss = new WebSocketServer({ noServer: true })
    http.listen(0, '127.0.0.1')
    await once(http, 'listening')
    const { port } = http.address() as AddressInfo
    const api = new StandInApi(http, wss, `http://127.0.0.1:${port}`)
    http.on('request', (req, res) => {
      void api.enroll(req).then(({ status, body }) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      })
    })
    http.on('upgrade', (req, socket, head) => api.upgrade(req, socket, head))
    return api
  }

  /** Makes an enrollment token that enrolls a new server. */
  addServer(serverId: string): string {
    const enrollmentToken = `enr_${serverId}`
    this.enrollments.set(enrollmentToken, {
      server_id: serverId,
      agent_token: `agt_${serverId}_${this.agentTokens.size}`,
    })
    return enrollmentToken
  }

  /** Waits for the agent's connection number `index` (0 first). */
  async link(index: number, timeoutMs = 5_000): Promise<StandInLink> {
    const found = this.links[index]
    if (found) return found
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.linkWaiters.delete(check)
        reject(new Error(`the agent did not connect ${index + 1} time(s) within ${timeoutMs} ms`))
      }, timeoutMs)
      const check = () => {
        const link = this.links[index]
        if (!link) return
        clearTimeout(timer)
        this.linkWaiters.delete(check)
        resolve(link)
      }
      this.linkWaiters.add(check)
    })
  }

  async close(): Promise<void> {
    for (const link of this.links) link.socket.terminate()
    this.wss.close()
    this.http.closeAllConnections()
    await new Promise((resolve) => this.http.close(resolve))
  }

  private async enroll(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    let text = ''
    for await (const chunk of req) text += chunk
    const token = req.url === AGENT_PATHS.enroll ? tokenIn(text) : null
    const server = typeof token === 'string' ? this.enrollments.get(token) : undefined
    if (!server || typeof token !== 'string') {
      const message = 'the enrollment token is invalid, used or expired'
      return { status: 401, body: { error: 'auth_error', code: 'invalid_enrollment', message, status: 401 } }
    }
    this.enrollments.delete(token)
    this.agentTokens.set(server.agent_token, server.server_id)
    return { status: 201, body: server }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const agentToken = req.headers.authorization?.replace(/^Bearer /, '') ?? ''
    const serverId = this.agentTokens.get(agentToken)
    if (req.url !== AGENT_PATHS.connect || !serverId) {
      this.refusals++
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const link = new StandInLink(ws, agentToken)
      ws.on('message', (data) => {
        const frame = link.receive(String(data))
        if (frame?.type === 'hello' && this.welcome) {
          const { heartbeatMs, statsIntervalMs } = this
          link.send({
            type: 'welcome',
            serverId,
            heartbeatMs,
            ...(statsIntervalMs ? { statsIntervalMs } : {}),
          })
        }
        if (frame?.type === 'heartbeat' && this.ackHeartbeats)
          link.send({ type: 'heartbeat_ack', seq: frame.seq })
      })
      this.links.push(link)
      for (const wake of this.linkWaiters) wake()
    })
  }
}

function tokenIn(body: string): unknown {
  try {
    const parsed: unknown = JSON.parse(body)
    return parsed && typeof parsed === 'object' && 'token' in parsed ? parsed.token : null
  } catch {
    return null
  }
}
