import os from 'node:os'
import {
  AGENT_PATHS,
  BERTH_VERSION,
  CLOSE_REVOKED,
  decodeFrame,
  encodeFrame,
  type ToAgent,
  type ToApiBody,
  toAgent,
} from '@berth/shared'
import WebSocket from 'ws'
import type { AppHostOptions } from '../deploy/apps.ts'
import type { Docker } from '../docker/index.ts'
import { ContainerWatch } from '../inventory.ts'
import { type Log, messageOf } from '../log.ts'
import { type AgentRuntime, isStreamOpName, isTunnelOpName, newRuntime, runOp } from '../ops/index.ts'
import { findAgentSelf } from '../self.ts'
import { DEFAULT_STATS_INTERVAL_MS, StatsSampler } from '../stats.ts'
import { type Backoff, backoffDelay, wait } from './backoff.ts'
import { CallBook, type CallOutcome } from './calls.ts'
import { LinkStreams } from './streams.ts'
import { LinkTunnels } from './tunnels.ts'

/** Heartbeat interval until the API's `welcome` names its own. */
const DEFAULT_HEARTBEAT_MS = 10_000
/** Heartbeat intervals of silence from the API after which the link is taken for dead. */
const SILENT_BEATS = 3
const HANDSHAKE_TIMEOUT_MS = 15_000
const CLOSE_TIMEOUT_MS = 2_000
const DOCKER_VERSION_TIMEOUT_MS = 3_000
const CLOSE_NORMAL = 1000

export interface ConnectionOptions {
  /** Base URL of the API, without a trailing slash. */
  api: string
  docker: Docker
  /** The host name this agent reports. */
  name: string
  log: Log
  backoff: Backoff
  /** How long a stopping agent lets running calls finish. */
  drainMs: number
  /** Where deploys clone, build and keep uploads. */
  workDir: string
  /** The state file, which holds the agent token. */
  statePath: string
  /** The server this agent is enrolled as, once known. */
  serverId(): string | null
  onWelcome(serverId: string): void
  /** The host's Caddy, the apps' front door. */
  caddy?: AppHostOptions['caddy']
}

/** Why the agent stopped talking to the API: asked to, token refused at the upgrade, or revoked on a live link. */
export type ConnectionEnd = 'stopped' | 'refused' | 'revoked'

type Hello = Extract<ToApiBody, { type: 'hello' }>
type Call = Extract<ToAgent, { type: 'call' }>
type LinkEnd = { end: ConnectionEnd | 'dropped'; welcomed: boolean }

/**
 * The agent's long-lived link to the API: says hello, keeps heartbeats going, answers calls, runs
 * streams, reports containers and their stats, and dials again with backoff whenever the link drops.
 */
export class Connection {
  private socket: WebSocket | null = null
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private watchdog: ReturnType<typeof setTimeout> | undefined
  private seq = 0
  private readonly calls = new CallBook()
  private readonly streams: LinkStreams
  private readonly tunnels: LinkTunnels
  private readonly agent: AgentRuntime
  private readonly watch: ContainerWatch
  private readonly sampler: StatsSampler
  /** A link is up and the API has welcomed it. */
  private linkReady = false
  private readonly stopping = new AbortController()
  private stopped: Promise<void> | null = null

  constructor(private readonly options: ConnectionOptions) {
    const { docker, log, backoff } = options
    this.streams = new LinkStreams({ docker, log })
    this.tunnels = new LinkTunnels({ docker, log })
    this.agent = newRuntime({
      workDir: options.workDir,
      openStreams: () => this.streams.report(),
      apps: {
        docker,
        log,
        serverId: options.serverId,
        caddy: options.caddy,
        // Deploys report again through deploy.status after a reconnect.
        send: (frame) => {
          if (this.linkReady) this.send(frame)
        },
      },
    })
    this.watch = new ContainerWatch({
      docker,
      log,
      backoff,
      linkUp: () => this.linkReady,
      send: (frame) => this.send(frame),
    })
    this.sampler = new StatsSampler({
      docker,
      history: this.agent.stats,
      log,
      send: (samples) => this.send({ type: 'stats', samples }),
    })
  }

  /** Keeps a link up with `agentToken` until stopped, or until the API refuses or revokes the token. */
  async run(agentToken: string): Promise<ConnectionEnd> {
    // Docker's events are followed as long as the agent runs, links or not.
    const watching = new AbortController()
    const stopWatching = () => watching.abort()
    this.stopping.signal.addEventListener('abort', stopWatching, { once: true })
    const watched = this.watch.run(watching.signal)
    // Apps are served, and their health checked, whether a link is up or not.
    const serving = this.agent.apps?.run(watching.signal)
    try {
      return await this.keepLinked(agentToken)
    } finally {
      this.stopping.signal.removeEventListener('abort', stopWatching)
      watching.abort()
      await Promise.all([watched, serving, this.agent.apps?.stop()])
    }
  }

  private async keepLinked(agentToken: string): Promise<ConnectionEnd> {
    let attempt = 0
    while (!this.stopping.signal.aborted) {
      const hello = await this.describeHost()
      if (this.stopping.signal.aborted) break
      const link = await this.connect(agentToken, hello)
      if (link.end !== 'dropped') return link.end
      if (link.welcomed) attempt = 0
      if (this.stopping.signal.aborted) break
      const delay = backoffDelay(attempt++, this.options.backoff)
      this.options.log(`connecting to the API again in ${delay} ms`)
      await wait(delay, this.stopping.signal)
    }
    return 'stopped'
  }

  /** Lets running calls finish (up to drainMs), then closes the link with 1000. */
  stop(): Promise<void> {
    this.stopped ??= this.shutDown()
    return this.stopped
  }

  private async shutDown(): Promise<void> {
    this.stopping.abort()
    this.sampler.stop()
    // Streams (a followed log) and tunnels may never finish on their own.
    this.streams.cancelAll()
    this.tunnels.cancelAll()
    await this.calls.drain(this.options.drainMs, 'the agent is stopping')
    const socket = this.socket
    if (!socket || socket.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS)
      socket.once('close', () => {
        clearTimeout(force)
        resolve()
      })
      socket.close(CLOSE_NORMAL, 'agent stopping')
    })
  }

  private connect(agentToken: string, hello: Hello): Promise<LinkEnd> {
    const { log } = this.options
    return new Promise((resolve) => {
      const socket = new WebSocket(connectUrl(this.options.api), {
        headers: { authorization: `Bearer ${agentToken}` },
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        perMessageDeflate: false,
      })
      this.socket = socket
      let refusedWith: number | null = null
      let welcomed = false

      socket.on('unexpected-response', (_req, res) => {
        res.resume()
        refusedWith = res.statusCode ?? 0
        socket.terminate()
      })
      socket.on('open', () => {
        this.seq = 0
        this.send(hello)
        this.beatEvery(DEFAULT_HEARTBEAT_MS)
      })
      socket.on('message', (data, isBinary) => {
        this.watchdog?.refresh()
        // Binary frames carry the bytes of tunnels.
        if (isBinary) return this.tunnels.data(bytesOf(data))
        const text = textOf(data)
        const frame = decodeFrame(toAgent, text)
        if (!frame) {
          log(`ignored an invalid frame from the API (type ${frameType(text)})`)
          return
        }
        if (frame.type === 'welcome') welcomed = true
        this.receive(frame)
      })
      socket.on('ping', () => this.watchdog?.refresh())
      socket.on('pong', () => this.watchdog?.refresh())
      socket.on('error', (err) => {
        if (refusedWith === null && !this.stopping.signal.aborted) {
          log(`the link to the API at ${this.options.api} failed: ${messageOf(err)}`)
        }
      })
      socket.on('close', (code, reason) => {
        clearInterval(this.heartbeat)
        clearTimeout(this.watchdog)
        this.linkReady = false
        this.sampler.stop()
        this.streams.cancelAll()
        this.tunnels.cancelAll()
        if (this.socket === socket) this.socket = null
        if (refusedWith === 401) return resolve({ end: 'refused', welcomed })
        if (code === CLOSE_REVOKED) return resolve({ end: 'revoked', welcomed })
        if (this.stopping.signal.aborted) return resolve({ end: 'stopped', welcomed })
        if (refusedWith !== null) log(`the API answered the agent's connection with HTTP ${refusedWith}`)
        else if (welcomed) log(`the link to the API closed (${code}${reason.length ? ` ${reason}` : ''})`)
        resolve({ end: 'dropped', welcomed })
      })
    })
  }

  private receive(frame: ToAgent): void {
    switch (frame.type) {
      case 'welcome':
        this.linkReady = true
        this.options.onWelcome(frame.serverId)
        this.options.log(`connected to the API at ${this.options.api} as server ${frame.serverId}`)
        this.beatEvery(frame.heartbeatMs)
        // Whatever happened while no link was up is in this inventory.
        this.watch.sendInventory()
        void this.agent.apps?.restore().catch((err: unknown) => {
          this.options.log(`cannot set up the apps' proxies: ${messageOf(err)}`)
        })
        this.sampler.start(frame.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS)
        this.streams.window = frame.streamWindowBytes ?? null
        if (frame.streamWindowBytes) this.tunnels.window = frame.streamWindowBytes
        return
      case 'heartbeat_ack':
        return
      case 'call':
        this.answer(frame)
        return
      case 'cancel':
        if (!this.streams.cancel(frame.id) && !this.tunnels.cancel(frame.id)) this.calls.cancel(frame.id)
        return
      case 'eof':
        this.tunnels.eof(frame.id)
        return
      case 'input':
      case 'resize':
      case 'signal':
        this.streams.deliver(frame)
        return
      case 'credit':
        this.streams.grant(frame.id, frame.bytes)
        this.tunnels.grant(frame.id, frame.bytes)
        return
      default:
        frame satisfies never
    }
  }

  private answer(call: Call): void {
    const stream = isStreamOpName(call.op) || isTunnelOpName(call.op)
    if (this.stopping.signal.aborted) {
      const error = { kind: 'agent_error', message: 'the agent is stopping' } as const
      if (stream) this.send({ type: 'end', id: call.id, error })
      else this.sendResult(call.id, { ok: false, error })
      return
    }
    if (isTunnelOpName(call.op)) {
      this.tunnels.start(call, this.socket, this.agent)
      return
    }
    if (stream) {
      this.streams.start(call, this.socket, this.agent)
      return
    }
    const { docker } = this.options
    const run = this.calls.run(call, (signal) =>
      runOp(call.op, call.args, { docker, signal, agent: this.agent }),
    )
    switch (run.seen) {
      case 'new':
        void run.outcome.then((outcome) => this.sendResult(call.id, outcome))
        return
      case 'running':
        // The first run answers when it finishes, on whichever link is up then.
        return
      case 'answered':
        this.sendResult(call.id, run.outcome)
        return
      default:
        run satisfies never
    }
  }

  /** Sends a heartbeat every `ms`, and drops the link after SILENT_BEATS intervals without a word from the API. */
  private beatEvery(ms: number): void {
    clearInterval(this.heartbeat)
    clearTimeout(this.watchdog)
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', seq: this.seq++ }), ms)
    this.watchdog = setTimeout(() => {
      this.options.log(`heard nothing from the API for ${SILENT_BEATS * ms} ms; dropping the link`)
      this.socket?.terminate()
    }, SILENT_BEATS * ms)
  }

  private sendResult(id: string, outcome: CallOutcome): void {
    this.send(
      outcome.ok
        ? { type: 'result', id, ok: true, data: outcome.data }
        : { type: 'result', id, ok: false, error: outcome.error },
    )
  }

  /** Sends on the link that is up; a result made while none is up waits in the call book for the resend. */
  private send(frame: ToApiBody): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(encodeFrame(frame))
  }

  private async describeHost(): Promise<Hello> {
    const { docker, log } = this.options
    let dockerVersion: string | null = null
    try {
      dockerVersion = await docker.version(AbortSignal.timeout(DOCKER_VERSION_TIMEOUT_MS))
    } catch (err) {
      log(`Docker is not reachable at ${docker.address}: ${messageOf(err)}`)
    }
    const self = dockerVersion
      ? await findAgentSelf(docker, this.options.statePath, AbortSignal.timeout(DOCKER_VERSION_TIMEOUT_MS))
      : null
    return {
      type: 'hello',
      agentVersion: BERTH_VERSION,
      hostname: this.options.name.slice(0, 255),
      arch: process.arch,
      os: `${os.type()} ${os.release()}`.slice(0, 128),
      dockerVersion: dockerVersion?.slice(0, 64) ?? null,
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
      ...(self ? { agentContainer: self.container } : {}),
      ...(self?.stateVolume ? { stateVolume: self.stateVolume } : {}),
      proxy: (await this.agent.apps?.proxyInfo()) ?? null,
      ipv4: hostIpv4(),
    }
  }
}

/** The host's first IPv4 address that is not loopback or one of Docker's bridges. */
function hostIpv4(): string | null {
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    if (/^(docker|br-|veth|virbr)/.test(name)) continue
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal)
    if (found) return found.address
  }
  return null
}

/** The WebSocket address of the API's agent endpoint: http→ws, https→wss. */
function connectUrl(api: string): string {
  return `${api.replace(/^http/, 'ws')}${AGENT_PATHS.connect}`
}

function bytesOf(data: WebSocket.RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? Buffer.from(data) : data
}

function textOf(data: WebSocket.RawData): string {
  return bytesOf(data).toString('utf8')
}

/** The `type` an invalid frame claims, for the log; never its contents. */
function frameType(text: string): string {
  try {
    const raw: unknown = JSON.parse(text)
    if (raw && typeof raw === 'object' && 'type' in raw && typeof raw.type === 'string') {
      return JSON.stringify(raw.type.slice(0, 40))
    }
  } catch {
    // not JSON at all
  }
  return 'unknown'
}
