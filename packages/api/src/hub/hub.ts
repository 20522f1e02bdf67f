import type { OpArgs, OpName, OpResult, StreamOpName, ToApi, TunnelOpName } from '@berth/shared'
import type { Context } from 'hono'

export type Hello = Extract<ToApi, { type: 'hello' }>
export type AgentEventFrame = Extract<ToApi, { type: 'event' }>
export type StatsFrame = Extract<ToApi, { type: 'stats' }>
export type JobFrame = Extract<ToApi, { type: 'job' }>

/** What the hub tells the rest of the API about agent connections. */
export interface AgentEvents {
  /** An agent said hello on a fresh connection. */
  online(serverId: string, hello: Hello, at: number): Promise<void>
  /** The connection of a server's agent ended (closed, dropped, or heartbeats stopped). */
  offline(serverId: string, at: number): Promise<void>
  /** Servers whose agents were heard from since the last report. */
  seen(serverIds: string[], at: number): Promise<void>
  /** An agent reported something that happened on its host (inventory, container events). */
  event(serverId: string, event: AgentEventFrame, at: number): Promise<void>
  /** An agent sent a batch of stats samples. */
  stats(serverId: string, samples: StatsFrame['samples'], at: number): Promise<void>
  /** An agent reported progress of a long job (a deploy). */
  job(serverId: string, job: JobFrame): Promise<void>
}

export interface CallOptions {
  timeoutMs?: number
}

export interface OpenOptions {
  /**
   * Joins the stream already running on the host for the same op and arguments, if any,
   * instead of starting another; the reader gets what arrives from when it joined.
   */
  shared?: boolean
}

/** One piece of a stream's output; `data` is text, or base64 when `encoding` says so. */
export interface StreamChunk {
  stream: 'stdout' | 'stderr' | 'data'
  data: string
  encoding: 'utf8' | 'base64'
}

/** What the API may send into a running stream: its process's stdin, a tty size, a signal. */
export type StreamControl =
  | { type: 'input'; data: string; encoding: 'utf8' | 'base64' }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'signal'; name: 'INT' | 'TERM' | 'KILL' | 'HUP' | 'QUIT' }

/** Output of a stream op; iterate it, and cancel it to stop the work on the host. */
export interface AgentStream extends AsyncIterable<StreamChunk> {
  cancel(): void
  /** Sends into the stream on the host (exec: stdin, tty size, signals); nothing once it ended. */
  control(message: StreamControl): void
  /** The process's exit code, once the stream ended with one. */
  readonly exitCode: number | undefined
}

/**
 * One connection to a socket on a server's host (Docker's API), its bytes both ways, paced by
 * the agent's window each way so that nothing piles up here.
 */
export interface AgentTunnel {
  /**
   * What the host's side sends. It ends when that side is done (Docker closed the connection),
   * and errors with an ApiError when the connection could not be made or the link dropped.
   */
  readonly readable: ReadableStream<Uint8Array>
  /** What goes to the host's side. Closing it half-closes the connection there (stdin's end). */
  readonly writable: WritableStream<Uint8Array>
  /** Ends the connection both ways at once. */
  close(): void
}

/** What a watch of a deployment's writes hears from the runtime. */
export interface DeploymentWatch {
  /** The deployment's lines or state were written. */
  written(): void
  /**
   * The watch hears every write of the deployment from now on, so its reader needs no other read;
   * what was written before may not have been heard. Not called where other processes may write
   * (several Node instances sharing one database).
   */
  inPlace(): void
  /** The watch stopped hearing writes (its connection was lost); it calls nothing more. */
  lost(): void
}

/** The one way services reach agents, whatever the runtime. */
export interface Hub {
  /** Runs an op on a server's agent; rejects with an ApiError (agent_offline, timeout, agent_error, …). */
  call<O extends OpName>(serverId: string, op: O, args: OpArgs<O>, opts?: CallOptions): Promise<OpResult<O>>
  /** Starts a stream op on a server's agent. */
  open<O extends StreamOpName>(
    serverId: string,
    op: O,
    args: OpArgs<O>,
    opts?: OpenOptions,
  ): Promise<AgentStream>
  /**
   * Connects to the host's Docker socket through its agent (op `docker.dial`); rejects at once
   * with agent_offline when the agent is not connected.
   */
  tunnel(serverId: string, op: TunnelOpName): Promise<AgentTunnel>
  online(serverId: string): Promise<boolean>
  onlineCount(): Promise<number>
  /** Takes over an authenticated agent's WebSocket upgrade request for a server. */
  acceptAgent(c: Context, serverId: string): Promise<Response>
  /** Closes a server's agent connection; `revoked` tells the agent not to come back. */
  disconnect(serverId: string, why: 'revoked' | 'replaced'): Promise<void>
  /** Tells every watch of a deployment, in whatever process it runs, that its lines or state were written. */
  deploymentWritten(serverId: string, deploymentId: string): void
  /** Watches the writes of a deployment of a server, where they are made; returns what ends the watch. */
  watchDeployment(serverId: string, deploymentId: string, watch: DeploymentWatch): () => void
}
