import type { Duplex } from 'node:stream'
import type { CallOpName, OpArgs, OpResult, StreamOpName, ToAgent, TunnelOpName } from '@berth/shared'
import type { HostPorts } from '../containers/ports.ts'
import type { AppHost } from '../deploy/apps.ts'
import type { Docker, TtySize } from '../docker/index.ts'
import type { Log } from '../log.ts'
import type { StatsHistory } from '../stats.ts'
import type { Uploads } from '../uploads.ts'

// What every op handler is given and must return; a leaf, so handler files never import the registry.

/** What the agent keeps across calls. */
export interface AgentRuntime {
  /** Who chooses host ports: two creates never pick the same one, nor one the apps' front door holds. */
  readonly ports: HostPorts
  /** The stats sampler's last readings, which `container.stats` measures against too. */
  readonly stats: StatsHistory
  /** Archives sent for `files.put` and upload deploys, apps or not. */
  readonly uploads: Uploads
  /** The apps this host serves and their deploys; null for a runtime made without them (tests of other ops). */
  readonly apps: AppHost | null
  /** Streams whose handlers are still running. */
  openStreams(): StreamReport[]
}

/** A running stream as `agent.status` reports it. */
export type StreamReport = OpResult<'agent.status'>['streams'][number]

/** What a handler works with: the host's Docker, a signal that aborts when the call is cancelled or times out, and the agent's own state. */
export interface OpContext {
  docker: Docker
  signal: AbortSignal
  agent: AgentRuntime
}

export type StreamName = 'stdout' | 'stderr' | 'data'

export type SignalName = Extract<ToAgent, { type: 'signal' }>['name']

/** What a stream handler has on top: a way to send output, and what the API sends while it runs. */
export interface StreamContext extends OpContext {
  /**
   * Sends a piece of output as a `chunk` frame; resolves when the link can take more. Text that is
   * valid UTF-8 goes as is unless `encoding` asks for base64.
   */
  emit(stream: StreamName, data: Buffer | string, encoding?: 'base64'): Promise<void>
  /** Gets each `input` frame's data as bytes, those sent before listening included. */
  onInput(listener: (data: Buffer) => void): void
  onResize(listener: (size: TtySize) => void): void
  onSignal(listener: (name: SignalName) => void): void
  log: Log
}

/** How a stream ended well; the `end` frame carries it. */
export interface StreamEnd {
  exitCode?: number
}

export type { CallOpName }
export type CallHandler<O extends CallOpName> = (args: OpArgs<O>, ctx: OpContext) => Promise<OpResult<O>>
export type StreamHandler<O extends StreamOpName> = (
  args: OpArgs<O>,
  ctx: StreamContext,
) => Promise<StreamEnd>

/** A tunnel's handler makes the connection; the link moves its bytes both ways. */
export type TunnelHandler<O extends TunnelOpName> = (args: OpArgs<O>, ctx: OpContext) => Promise<Duplex>

/** One handler per op of the protocol: an op added in @berth/shared without a handler here does not compile. */
export type OpHandlers = { [O in CallOpName]: CallHandler<O> } & { [O in StreamOpName]: StreamHandler<O> } & {
  [O in TunnelOpName]: TunnelHandler<O>
}
