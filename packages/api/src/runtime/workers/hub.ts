import type { OpArgs, OpName, OpResult, StreamOpName, TunnelOpName } from '@berth/shared'
import { count, eq } from 'drizzle-orm'
import type { Context } from 'hono'
import type { Config } from '../../context.ts'
import type { Db } from '../../db/index.ts'
import { servers } from '../../db/schema.ts'
import { upgradeRequired } from '../../errors.ts'
import type {
  AgentStream,
  AgentTunnel,
  CallOptions,
  DeploymentWatch,
  Hub,
  OpenOptions,
} from '../../hub/hub.ts'
import { log } from '../../lib/log.ts'
import { type AgentHubRpc, SERVER_ID_HEADER } from './agent-hub-rpc.ts'
import { fromWire, LineStream, type Outcome } from './rpc.ts'

/** The Hub on Workers: each server's agent socket lives in its own AgentHub Durable Object. */
export class WorkersHub implements Hub {
  constructor(
    private readonly namespace: DurableObjectNamespace<AgentHubRpc>,
    private readonly db: Db,
    private readonly config: Config,
  ) {}

  async call<O extends OpName>(
    serverId: string,
    op: O,
    args: OpArgs<O>,
    opts: CallOptions = {},
  ): Promise<OpResult<O>> {
    const timeoutMs = opts.timeoutMs ?? this.config.callTimeoutMs
    const outcome = (await this.stub(serverId).call(serverId, op, args, timeoutMs)) as Outcome<unknown>
    return unwrap(outcome) as OpResult<O>
  }

  async open<O extends StreamOpName>(
    serverId: string,
    op: O,
    args: OpArgs<O>,
    opts: OpenOptions = {},
  ): Promise<AgentStream> {
    const stub = this.stub(serverId)
    const outcome = (await stub.open(serverId, op, args, opts.shared ?? false)) as Outcome<{
      handle: string
      body: ReadableStream<Uint8Array>
    }>
    const { handle, body } = unwrap(outcome)
    return new LineStream(
      body,
      (message) => stub.control(handle, message),
      () => stub.cancel(handle),
    )
  }

  /** The tunnel lives in the server's object: the worker's bytes go to it as a stream, the host's come back as one. */
  async tunnel(serverId: string, op: TunnelOpName): Promise<AgentTunnel> {
    const stub = this.stub(serverId)
    const input = new IdentityTransformStream()
    const outcome = (await stub.tunnel(serverId, op, input.readable)) as Outcome<{
      handle: string
      body: ReadableStream<Uint8Array>
    }>
    if (!outcome.ok) {
      input.writable.abort().catch(() => {})
      throw fromWire(outcome.error)
    }
    const { handle, body } = outcome.value
    return {
      readable: body,
      writable: input.writable,
      close: () => {
        body.cancel().catch(() => {})
        input.writable.abort().catch(() => {})
        stub.closeTunnel(handle).catch(() => {})
      },
    }
  }

  async online(serverId: string): Promise<boolean> {
    return this.stub(serverId).online()
  }

  /** The Durable Objects mark their servers online and offline, so the database knows who is connected. */
  async onlineCount(): Promise<number> {
    try {
      const [row] = await this.db.select({ n: count() }).from(servers).where(eq(servers.status, 'online'))
      return row?.n ?? 0
    } catch {
      // The count lives in the database here; when that is down, /health says so, and counts none.
      return 0
    }
  }

  async acceptAgent(c: Context, serverId: string): Promise<Response> {
    const headers = new Headers(c.req.raw.headers)
    headers.set(SERVER_ID_HEADER, serverId)
    const res = await this.stub(serverId).fetch(new Request(c.req.raw.url, { headers }))
    if (res.status !== 101 || !res.webSocket) {
      throw upgradeRequired()
    }
    // A fresh Response, so the app's middleware may still add its headers.
    return new Response(null, { status: 101, webSocket: res.webSocket })
  }

  async disconnect(serverId: string, why: 'revoked' | 'replaced'): Promise<void> {
    await this.stub(serverId).disconnect(why)
  }

  /** Writes made in the worker (a cancel, maintenance) reach the watches through the server's object. */
  deploymentWritten(serverId: string, deploymentId: string): void {
    this.stub(serverId)
      .deploymentWritten(deploymentId)
      .catch((err) => log.warn(`telling the watches of ${deploymentId} of a write failed: ${String(err)}`))
  }

  /**
   * The server's object records its deployments and hears the worker's writes: one stream from it
   * carries a newline once the watch is in place, then one per write.
   */
  watchDeployment(serverId: string, deploymentId: string, watch: DeploymentWatch): () => void {
    const stub = this.stub(serverId)
    let stopped = false
    let end = () => {}
    void (async () => {
      try {
        const { handle, body } = await stub.watchDeployment(deploymentId)
        const reader = body.getReader()
        end = () => {
          reader.cancel().catch(() => {})
          stub.unwatchDeployment(handle).catch(() => {})
        }
        if (stopped) return end()
        let first = true
        while (!stopped) {
          const { done } = await reader.read()
          if (done || stopped) break
          if (first) watch.inPlace()
          else watch.written()
          first = false
        }
      } catch {
        // the object went away (a restart, a deploy of new code): the watch is lost
      }
      if (!stopped) watch.lost()
    })()
    return () => {
      stopped = true
      end()
    }
  }

  private stub(serverId: string) {
    return this.namespace.get(this.namespace.idFromName(serverId))
  }
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw fromWire(outcome.error)
  return outcome.value
}
