import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import {
  type OpArgs,
  type OpName,
  type OpResult,
  STREAM_WINDOW_BYTES,
  type StreamOpName,
  type TunnelOpName,
} from '@berth/shared'
import type { Context } from 'hono'
import { type WebSocket, WebSocketServer } from 'ws'
import type { Clock } from '../../context.ts'
import { upgradeRequired } from '../../errors.ts'
import type {
  AgentEvents,
  AgentStream,
  AgentTunnel,
  CallOptions,
  DeploymentWatch,
  Hub,
  OpenOptions,
} from '../../hub/hub.ts'
import { AgentLink, CLOSE_CODES, offline } from '../../hub/link.ts'
import { SharedStreams } from '../../hub/shared.ts'
import { DeploymentWatches } from '../../hub/watches.ts'
import { log } from '../../lib/log.ts'
import { LAST_SEEN_RESOLUTION_MS } from '../../services/servers.ts'

/** What the Node upgrade handler passes as the app's env for a WebSocket upgrade. */
export interface UpgradeEnv {
  incoming: IncomingMessage
  socket: Duplex
  head: Buffer
  /** Set once the socket has been taken over, so the handler writes no HTTP response on it. */
  upgraded: boolean
}

export interface NodeHubOptions {
  heartbeatMs: number
  statsIntervalMs: number
  callTimeoutMs: number
  streamStallMs: number
  /** Only this process writes the database (a local file), so its writes are all there are to watch. */
  soleWriter: boolean
  clock: Clock
  events: AgentEvents
}

const MAX_FRAME_BYTES = 16 * 1024 * 1024

/** The Hub on Node: this process holds its agents' sockets in a map keyed by server id. */
export class NodeHub implements Hub {
  private readonly links = new Map<string, AgentLink>()
  /** Per server, the tail of its queue of state updates, so they are written in arrival order. */
  private readonly writes = new Map<string, Promise<void>>()
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
  private readonly shared = new SharedStreams()
  /** Deployments are written in this process (the agents' reports arrive here), so they are watched here. */
  private readonly watches = new DeploymentWatches()
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(private readonly opts: NodeHubOptions) {}

  /** Starts the watchdog: drops links silent for three heartbeats and reports, now and then, who was heard from. */
  start(): void {
    this.timer = setInterval(() => this.sweep(), this.opts.heartbeatMs)
    this.timer.unref()
  }

  async call<O extends OpName>(
    serverId: string,
    op: O,
    args: OpArgs<O>,
    opts: CallOptions = {},
  ): Promise<OpResult<O>> {
    const link = this.links.get(serverId)
    if (!link?.hello) throw offline(serverId)
    return link.call(op, args, opts.timeoutMs ?? this.opts.callTimeoutMs)
  }

  async open<O extends StreamOpName>(
    serverId: string,
    op: O,
    args: OpArgs<O>,
    opts: OpenOptions = {},
  ): Promise<AgentStream> {
    const link = this.links.get(serverId)
    if (!link?.hello) throw offline(serverId)
    const stallMs = this.opts.streamStallMs
    if (!opts.shared) return link.open(op, args, { stallMs })
    return this.shared.join(
      `${serverId} ${op} ${JSON.stringify(args)}`,
      () => link.open(op, args, { stallMs }),
      stallMs,
    )
  }

  async tunnel(serverId: string, op: TunnelOpName): Promise<AgentTunnel> {
    const link = this.links.get(serverId)
    if (!link?.hello) throw offline(serverId)
    return link.tunnel(op)
  }

  async online(serverId: string): Promise<boolean> {
    return this.links.get(serverId)?.hello != null
  }

  async onlineCount(): Promise<number> {
    let n = 0
    for (const link of this.links.values()) if (link.hello) n++
    return n
  }

  async acceptAgent(c: Context, serverId: string): Promise<Response> {
    const env = c.env as Partial<UpgradeEnv> | undefined
    if (!env?.incoming || !env.socket || !env.head) {
      throw upgradeRequired()
    }
    env.upgraded = true
    this.wss.handleUpgrade(env.incoming, env.socket, env.head, (ws) => this.attach(serverId, ws))
    return new Response(null, { status: 200 })
  }

  deploymentWritten(_serverId: string, deploymentId: string): void {
    this.watches.written(deploymentId)
  }

  watchDeployment(_serverId: string, deploymentId: string, watch: DeploymentWatch): () => void {
    return this.watches.add(deploymentId, watch, this.opts.soleWriter)
  }

  async disconnect(serverId: string, why: 'revoked' | 'replaced'): Promise<void> {
    const link = this.links.get(serverId)
    if (!link) return
    this.links.delete(serverId)
    link.close(CLOSE_CODES[why], why === 'revoked' ? 'agent token revoked' : 'replaced by a newer connection')
    this.inOrder(serverId, () => this.opts.events.offline(serverId, this.opts.clock.now()))
  }

  /** Closes every link (the API is shutting down); agents reconnect to the next process. */
  close(): void {
    if (this.timer) clearInterval(this.timer)
    for (const link of this.links.values()) link.close(1001, 'API shutting down')
    this.links.clear()
    this.wss.close()
  }

  private attach(serverId: string, ws: WebSocket): void {
    const { clock, events, heartbeatMs } = this.opts
    const previous = this.links.get(serverId)
    if (previous) previous.close(CLOSE_CODES.replaced, 'replaced by a newer connection')
    const link: AgentLink = new AgentLink(
      serverId,
      {
        send: (text) => ws.send(text),
        sendBytes: (data) => ws.send(data),
        close: (code, reason) => ws.close(code, reason),
      },
      {
        hello: (hello) => this.inOrder(serverId, () => events.online(serverId, hello, clock.now())),
        event: (event) => this.inOrder(serverId, () => events.event(serverId, event, clock.now())),
        stats: (stats) => this.inOrder(serverId, () => events.stats(serverId, stats.samples, clock.now())),
        job: (job) => this.inOrder(serverId, () => events.job(serverId, job)),
        invalid: () => link.close(CLOSE_CODES.invalidFrame, 'invalid frame'),
      },
      clock.now(),
    )
    this.links.set(serverId, link)
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return link.receive(String(data), clock.now())
      link.receiveBytes(Array.isArray(data) ? Buffer.concat(data) : bytesOf(data), clock.now())
    })
    ws.on('error', () => {}) // the close event that follows does the work
    ws.on('close', () => {
      link.close(CLOSE_CODES.normal, 'closed')
      if (this.links.get(serverId) !== link) return
      this.links.delete(serverId)
      this.inOrder(serverId, () => events.offline(serverId, clock.now()))
    })
    link.send({
      type: 'welcome',
      serverId,
      heartbeatMs,
      statsIntervalMs: this.opts.statsIntervalMs,
      streamWindowBytes: STREAM_WINDOW_BYTES,
    })
  }

  private sweep(): void {
    const now = this.opts.clock.now()
    const silentSince = now - 3 * this.opts.heartbeatMs
    const heard: string[] = []
    for (const [serverId, link] of this.links) {
      if (link.lastSeen < silentSince) {
        this.links.delete(serverId)
        link.close(CLOSE_CODES.heartbeatLost, 'no heartbeat')
        this.inOrder(serverId, () => this.opts.events.offline(serverId, now))
      } else if (link.hello && link.lastSeen - link.lastRecorded >= LAST_SEEN_RESOLUTION_MS) {
        link.lastRecorded = link.lastSeen
        heard.push(serverId)
      }
    }
    if (heard.length > 0) void this.report(() => this.opts.events.seen(heard, now))
  }

  /** Runs a server's state updates one after another, in the order its agent sent them. */
  private inOrder(serverId: string, fn: () => Promise<void>): void {
    const tail = (this.writes.get(serverId) ?? Promise.resolve()).then(() => this.report(fn))
    this.writes.set(serverId, tail)
    void tail.then(() => {
      if (this.writes.get(serverId) === tail) this.writes.delete(serverId)
    })
  }

  private async report(fn: () => Promise<void>): Promise<void> {
    try {
      await fn()
    } catch (err) {
      log.error('recording agent state failed', err)
    }
  }
}

/** A binary message as ws hands it: a Buffer (already bytes), or an ArrayBuffer to view. */
function bytesOf(data: Buffer | ArrayBuffer): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}
