import { DurableObject } from 'cloudflare:workers'
import {
  newId,
  type OpArgs,
  type OpName,
  STREAM_WINDOW_BYTES,
  type StreamOpName,
  type TunnelOpName,
} from '@berth/shared'
import type { ServiceContext } from '../../context.ts'
import type { AgentStream, AgentTunnel, Hello, Hub, StreamControl } from '../../hub/hub.ts'
import { AgentLink, CLOSE_CODES, offline } from '../../hub/link.ts'
import { SharedStreams } from '../../hub/shared.ts'
import { DeploymentWatches } from '../../hub/watches.ts'
import { log } from '../../lib/log.ts'
import { agentEvents } from '../../services/agent-events.ts'
import { LAST_SEEN_RESOLUTION_MS } from '../../services/servers.ts'
import { type AgentHubRpc, SERVER_ID_HEADER } from './agent-hub-rpc.ts'
import { type Env, serviceContextFor } from './env.ts'
import { type Outcome, settle, streamToLines } from './rpc.ts'

/** What a hibernated socket remembers; the AgentLink is rebuilt from it when the object wakes. */
interface Attachment {
  serverId: string
  lastSeen: number
  lastRecorded: number
  hello: Hello | null
  /** Set when this side ended the link, so the close that follows is not reported twice. */
  ended: boolean
}

interface Entry {
  link: AgentLink
  /** The attachment as last written. */
  saved: Attachment
}

/**
 * One server's agent connection, held with the WebSocket hibernation API: an idle agent
 * (heartbeats only) costs no duration between frames. Calls and streams wait in memory,
 * which keeps the object awake while they are open.
 *
 * Heartbeats are answered here, not with setWebSocketAutoResponse: an auto-response is a fixed
 * string, and the agent's heartbeat carries a seq that heartbeat_ack echoes. Answering wakes the
 * object per heartbeat; last-seen goes into the attachment at most every half interval.
 */
export class AgentHub extends DurableObject<Env> implements AgentHubRpc {
  private readonly entries = new Map<WebSocket, Entry>()
  /** Streams opened through this object that are still running, by the handle the worker holds. */
  private readonly running = new Map<string, AgentStream>()
  /** Tunnels opened through this object that are still open, by the handle the worker holds. */
  private readonly tunnels = new Map<string, AgentTunnel>()
  /** Streams of this server read by more than one worker request (followed container logs). */
  private readonly shared = new SharedStreams()
  /** The worker's watches of this server's deployments, by deployment; and what ends each, by handle. */
  private readonly watches = new DeploymentWatches()
  private readonly watching = new Map<string, () => void>()
  /** State updates of this server, written one after another in the order its agent sent them. */
  private writes: Promise<void> = Promise.resolve()
  private readonly events = agentEvents({
    ctx: () => this.services,
    forServer: (serverId) => this.servicesOf(serverId),
  })

  private get services(): ServiceContext {
    return serviceContextFor(this.env)
  }

  /**
   * The services' context for work started here on behalf of this server (a deploy finishing
   * hands the next one to the agent): calls to this server's agent go straight to its link
   * instead of through this object's own stub.
   */
  private servicesOf(serverId: string): ServiceContext {
    const base = this.services
    const hub: Hub = {
      call: (sid, op, args, opts) =>
        sid === serverId
          ? this.connected(sid).call(op, args, opts?.timeoutMs ?? base.config.callTimeoutMs)
          : base.hub.call(sid, op, args, opts),
      open: (sid, op, args, opts) => base.hub.open(sid, op, args, opts),
      tunnel: (sid, op) => base.hub.tunnel(sid, op),
      online: async (sid) => (sid === serverId ? this.current()?.link.hello != null : base.hub.online(sid)),
      onlineCount: () => base.hub.onlineCount(),
      acceptAgent: (c, sid) => base.hub.acceptAgent(c, sid),
      disconnect: (sid, why) => base.hub.disconnect(sid, why),
      deploymentWritten: (sid, id) =>
        sid === serverId ? this.watches.written(id) : base.hub.deploymentWritten(sid, id),
      watchDeployment: (sid, id, watch) => base.hub.watchDeployment(sid, id, watch),
    }
    return { ...base, hub }
  }

  /** Takes over an authenticated agent's upgrade (the worker checked its token). */
  override async fetch(request: Request): Promise<Response> {
    const serverId = request.headers.get(SERVER_ID_HEADER)
    if (!serverId || request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return new Response(null, { status: 400 })
    }
    const { config } = this.services
    for (const ws of this.ctx.getWebSockets()) {
      const previous = this.entryFor(ws)
      if (previous) this.end(ws, previous, CLOSE_CODES.replaced, 'replaced by a newer connection', false)
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    // Binary frames (tunnels' bytes) as ArrayBuffers; the standard's default is Blob.
    server.binaryType = 'arraybuffer'
    this.ctx.acceptWebSocket(server)
    const now = Date.now()
    server.serializeAttachment({
      serverId,
      lastSeen: now,
      lastRecorded: now,
      hello: null,
      ended: false,
    } satisfies Attachment)
    const entry = this.entryFor(server)
    entry?.link.send({
      type: 'welcome',
      serverId,
      heartbeatMs: config.heartbeatMs,
      statsIntervalMs: config.statsIntervalMs,
      streamWindowBytes: STREAM_WINDOW_BYTES,
    })
    await this.ctx.storage.setAlarm(now + config.heartbeatMs)
    return new Response(null, { status: 101, webSocket: client })
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const entry = this.entryFor(ws)
    if (!entry) return
    const now = Date.now()
    if (typeof message === 'string') entry.link.receive(message, now)
    else entry.link.receiveBytes(new Uint8Array(message), now)
    if (!entry.link.isClosed && now - entry.saved.lastSeen >= this.services.config.heartbeatMs / 2) {
      this.save(ws, entry)
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.closed(ws, code)
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.closed(ws, CLOSE_CODES.normal)
  }

  /** The watchdog, every heartbeat interval while a socket is open: drops a link silent for three. */
  override async alarm(): Promise<void> {
    const { config } = this.services
    const now = Date.now()
    let open = false
    for (const ws of this.ctx.getWebSockets()) {
      const entry = this.entryFor(ws)
      if (!entry) continue
      const { link } = entry
      if (link.lastSeen < now - 3 * config.heartbeatMs) {
        this.end(ws, entry, CLOSE_CODES.heartbeatLost, 'no heartbeat', true)
        continue
      }
      open = true
      if (link.hello && link.lastSeen - link.lastRecorded >= LAST_SEEN_RESOLUTION_MS) {
        link.lastRecorded = link.lastSeen
        this.save(ws, entry)
        const serverId = link.serverId
        this.inOrder(() => this.events.seen([serverId], now))
      }
    }
    if (open) await this.ctx.storage.setAlarm(now + config.heartbeatMs)
    await this.writes
  }

  // RPC methods, called by WorkersHub. They answer with an Outcome rather than throw, so an
  // ApiError keeps its kind and code across the boundary.

  async call(serverId: string, op: OpName, args: unknown, timeoutMs: number): Promise<Outcome<unknown>> {
    return settle(() => this.connected(serverId).call(op, args as OpArgs<OpName>, timeoutMs))
  }

  async open(
    serverId: string,
    op: StreamOpName,
    args: unknown,
    shared = false,
  ): Promise<Outcome<{ handle: string; body: ReadableStream<Uint8Array> }>> {
    return settle(() => {
      const stallMs = this.services.config.streamStallMs
      const start = () => this.connected(serverId).open(op, args as OpArgs<StreamOpName>, { stallMs })
      const stream = shared ? this.shared.join(`${op} ${JSON.stringify(args)}`, start, stallMs) : start()
      const handle = newId('call')
      this.running.set(handle, stream)
      return { handle, body: streamToLines(stream, () => this.running.delete(handle)) }
    })
  }

  /**
   * Opens a tunnel on the host: `input` carries the worker's bytes to it (its end half-closes the
   * connection), the answer's body carries the host's back. Both are streams, so the worker and
   * this object hold no more than their pipes' buffers on top of the link's window.
   */
  async tunnel(
    serverId: string,
    op: TunnelOpName,
    input: ReadableStream<Uint8Array>,
  ): Promise<Outcome<{ handle: string; body: ReadableStream<Uint8Array> }>> {
    return settle(() => {
      let tunnel: AgentTunnel
      try {
        tunnel = this.connected(serverId).tunnel(op)
      } catch (err) {
        // Cancelled, or the worker's call waits on the stream it passed until it times out.
        input.cancel().catch(() => {})
        throw err
      }
      const handle = newId('call')
      this.tunnels.set(handle, tunnel)
      const close = () => {
        tunnel.close()
        this.tunnels.delete(handle)
      }
      input.pipeTo(tunnel.writable).catch(close)
      const { readable, writable } = new IdentityTransformStream()
      tunnel.readable.pipeTo(writable).then(() => this.tunnels.delete(handle), close)
      return { handle, body: readable }
    })
  }

  /** Closes a tunnel opened here, and its connection on the host. */
  async closeTunnel(handle: string): Promise<void> {
    this.tunnels.get(handle)?.close()
    this.tunnels.delete(handle)
  }

  /** Sends into a stream opened here (exec: stdin, tty size, a signal). */
  async control(handle: string, message: StreamControl): Promise<void> {
    this.running.get(handle)?.control(message)
  }

  /** Stops a stream opened here, and its work on the host. */
  async cancel(handle: string): Promise<void> {
    this.running.get(handle)?.cancel()
    this.running.delete(handle)
  }

  async online(): Promise<boolean> {
    return this.current()?.link.hello != null
  }

  /**
   * A watch of one of this server's deployments, for the worker's followers of it: a newline when
   * the watch is in place, then one each time the deployment's lines or state are written (here,
   * or in the worker, which tells this object). A newline still unread stands for the writes after
   * it, so a slow reader holds one, not a backlog.
   */
  async watchDeployment(deploymentId: string): Promise<{ handle: string; body: ReadableStream<Uint8Array> }> {
    const handle = newId('call')
    const { readable, writable } = new IdentityTransformStream()
    const writer = writable.getWriter()
    const newline = new Uint8Array([10])
    let unread = false
    const send = () => {
      if (unread) return
      unread = true
      writer.write(newline).then(
        () => {
          unread = false
        },
        () => this.unwatchDeployment(handle),
      )
    }
    const stop = this.watches.add(deploymentId, { written: send, inPlace: send, lost: () => {} }, true)
    this.watching.set(handle, () => {
      stop()
      writer.close().catch(() => {})
    })
    return { handle, body: readable }
  }

  /** Ends a watch opened with watchDeployment. */
  async unwatchDeployment(handle: string): Promise<void> {
    this.watching.get(handle)?.()
    this.watching.delete(handle)
  }

  /** A write of one of this server's deployments made elsewhere (a cancel in the worker). */
  async deploymentWritten(deploymentId: string): Promise<void> {
    this.watches.written(deploymentId)
  }

  async disconnect(why: 'revoked' | 'replaced'): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) {
      const entry = this.entryFor(ws)
      if (!entry) continue
      this.end(
        ws,
        entry,
        CLOSE_CODES[why],
        why === 'revoked' ? 'agent token revoked' : 'replaced by a newer connection',
        true,
      )
    }
    await this.writes
  }

  private connected(serverId: string): AgentLink {
    const link = this.current()?.link
    if (!link?.hello) throw offline(serverId)
    return link
  }

  private current(): Entry | undefined {
    for (const ws of this.ctx.getWebSockets()) {
      const entry = this.entryFor(ws)
      if (entry && !entry.link.isClosed) return entry
    }
    return undefined
  }

  /** The link of a socket, rebuilt from its attachment when the object woke from hibernation. */
  private entryFor(ws: WebSocket): Entry | undefined {
    const known = this.entries.get(ws)
    if (known) return known
    const saved = ws.deserializeAttachment() as Attachment | null
    if (!saved || saved.ended) return undefined
    const { serverId } = saved
    const link: AgentLink = new AgentLink(
      serverId,
      {
        send: (text) => ws.send(text),
        sendBytes: (data) => ws.send(data),
        close: (code, reason) => ws.close(code, reason),
      },
      {
        hello: (hello) => {
          this.save(ws, entry)
          this.inOrder(() => this.events.online(serverId, hello, Date.now()))
        },
        event: (event) => this.inOrder(() => this.events.event(serverId, event, Date.now())),
        stats: (stats) => this.inOrder(() => this.events.stats(serverId, stats.samples, Date.now())),
        job: (job) => this.inOrder(() => this.events.job(serverId, job)),
        invalid: () => this.end(ws, entry, CLOSE_CODES.invalidFrame, 'invalid frame', true),
      },
      saved.lastSeen,
    )
    link.lastRecorded = saved.lastRecorded
    link.hello = saved.hello
    const entry: Entry = { link, saved }
    this.entries.set(ws, entry)
    return entry
  }

  private save(ws: WebSocket, entry: Entry, ended = false): void {
    const { link } = entry
    entry.saved = {
      serverId: link.serverId,
      lastSeen: link.lastSeen,
      lastRecorded: link.lastRecorded,
      hello: link.hello,
      ended,
    }
    try {
      ws.serializeAttachment(entry.saved)
    } catch {
      // the socket is already gone
    }
  }

  /** This side ends a link: pending calls fail, the socket closes, and the server goes offline if asked. */
  private end(ws: WebSocket, entry: Entry, code: number, reason: string, offlineNow: boolean): void {
    this.save(ws, entry, true)
    this.entries.delete(ws)
    entry.link.close(code, reason)
    if (offlineNow) {
      const serverId = entry.link.serverId
      this.inOrder(() => this.events.offline(serverId, Date.now()))
    }
  }

  /** The agent's side closed (or the socket failed). */
  private closed(ws: WebSocket, code: number): void {
    const entry = this.entryFor(ws)
    if (entry) this.end(ws, entry, CLOSE_CODES.normal, 'closed', true)
    else {
      try {
        ws.close(code === 1005 || code === 1006 ? CLOSE_CODES.normal : code, 'closed')
      } catch {
        // already closed
      }
    }
  }

  private inOrder(fn: () => Promise<void>): void {
    this.writes = this.writes.then(fn).catch((err) => log.error('recording agent state failed', err))
  }
}
