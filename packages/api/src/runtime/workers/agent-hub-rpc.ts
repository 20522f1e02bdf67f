import type { OpName, StreamOpName, TunnelOpName } from '@berth/shared'
import type { StreamControl } from '../../hub/hub.ts'
import type { Outcome } from './rpc.ts'

/** Tells the Durable Object which server an upgrade is for (it cannot read its own name). */
export const SERVER_ID_HEADER = 'X-Berth-Server-Id'

/**
 * The AgentHub Durable Object's RPC methods, as the worker calls them: the env and WorkersHub
 * name this, not the class, so they need not import the object that imports them.
 */
export interface AgentHubRpc extends Rpc.DurableObjectBranded {
  call(serverId: string, op: OpName, args: unknown, timeoutMs: number): Promise<Outcome<unknown>>
  open(
    serverId: string,
    op: StreamOpName,
    args: unknown,
    shared?: boolean,
  ): Promise<Outcome<{ handle: string; body: ReadableStream<Uint8Array> }>>
  tunnel(
    serverId: string,
    op: TunnelOpName,
    input: ReadableStream<Uint8Array>,
  ): Promise<Outcome<{ handle: string; body: ReadableStream<Uint8Array> }>>
  closeTunnel(handle: string): Promise<void>
  control(handle: string, message: StreamControl): Promise<void>
  cancel(handle: string): Promise<void>
  online(): Promise<boolean>
  watchDeployment(deploymentId: string): Promise<{ handle: string; body: ReadableStream<Uint8Array> }>
  unwatchDeployment(handle: string): Promise<void>
  deploymentWritten(deploymentId: string): Promise<void>
  disconnect(why: 'revoked' | 'replaced'): Promise<void>
}
