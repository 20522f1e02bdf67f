import type { OpArgs, OpName, OpResult, ToApi } from '@berth/shared'
import type { Context } from 'hono'

export type Hello = Extract<ToApi, { type: 'hello' }>

/** What the hub tells the rest of the API about agent connections. */
export interface AgentEvents {
  /** An agent said hello on a fresh connection. */
  online(serverId: string, hello: Hello, at: number): Promise<void>
  /** The connection of a server's agent ended (closed, dropped, or heartbeats stopped). */
  offline(serverId: string, at: number): Promise<void>
  /** Servers whose agents were heard from since the last report. */
  seen(serverIds: string[], at: number): Promise<void>
}

export interface CallOptions {
  timeoutMs?: number
}

/** The one way services reach agents, whatever the runtime. */
export interface Hub {
  /** Runs an op on a server's agent; rejects with an ApiError (agent_offline, timeout, agent_error, …). */
  call<O extends OpName>(serverId: string, op: O, args: OpArgs<O>, opts?: CallOptions): Promise<OpResult<O>>
  online(serverId: string): Promise<boolean>
  onlineCount(): Promise<number>
  /** Takes over an authenticated agent's WebSocket upgrade request for a server. */
  acceptAgent(c: Context, serverId: string): Promise<Response>
  /** Closes a server's agent connection; `revoked` tells the agent not to come back. */
  disconnect(serverId: string, why: 'revoked' | 'replaced'): Promise<void>
}
