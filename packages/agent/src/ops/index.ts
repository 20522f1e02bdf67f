import type { Duplex } from 'node:stream'
import {
  isStreamOp,
  isTunnelOp,
  type OpArgs,
  type OpName,
  type OpResult,
  ops,
  type StreamOpName,
  type TunnelOpName,
} from '@berth/shared'
import { z } from 'zod'
import { OpError } from '../errors.ts'
import { containerOps } from './containers.ts'
import type {
  CallHandler,
  CallOpName,
  OpContext,
  OpHandlers,
  StreamContext,
  StreamEnd,
  StreamHandler,
  TunnelHandler,
} from './context.ts'
import { deployOps } from './deploy.ts'
import { dockerTunnelOps } from './docker-tunnel.ts'
import { execOps } from './exec.ts'
import { fileOps } from './files.ts'
import { gitOps } from './git.ts'
import { hostOps } from './host.ts'
import { imageOps } from './images.ts'
import { logOps } from './logs.ts'
import { networkOps } from './networks.ts'
import { proxyOps } from './proxy.ts'
import { volumeOps } from './volumes.ts'

export type { AgentRuntime, OpContext, StreamContext, StreamEnd, StreamName } from './context.ts'
export { newRuntime, type RuntimeOptions } from './runtime.ts'

/** Every op of the protocol, each area's handlers from its own file. */
export const handlers: OpHandlers = {
  ...hostOps,
  ...containerOps,
  ...logOps,
  ...imageOps,
  ...volumeOps,
  ...networkOps,
  ...execOps,
  ...fileOps,
  ...gitOps,
  ...deployOps,
  ...proxyOps,
  ...dockerTunnelOps,
}

/** Runs the op a call names, with its arguments checked against the protocol. */
export function runOp(op: string, args: unknown, ctx: OpContext): Promise<unknown> {
  if (!isOpName(op)) return Promise.reject(unknownOp(op))
  if (isStream(op) || isTunnel(op))
    return Promise.reject(new OpError('validation_error', `${op} is a stream; open it as one`))
  return runCall(op, args, ctx)
}

/** Runs the stream op a call names; its output goes out through `ctx.emit`. */
export function runStreamOp(op: string, args: unknown, ctx: StreamContext): Promise<StreamEnd> {
  if (!isOpName(op)) return Promise.reject(unknownOp(op))
  if (!isStream(op)) return Promise.reject(new OpError('validation_error', `${op} is not a stream`))
  return runStream(op, args, ctx)
}

/** Connects the tunnel a call names; the link moves its bytes. */
export function runTunnelOp(op: string, args: unknown, ctx: OpContext): Promise<Duplex> {
  if (!isOpName(op) || !isTunnel(op)) return Promise.reject(unknownOp(op))
  const handler = handlers[op] as TunnelHandler<typeof op>
  return handler(parseArgs(op, args), ctx)
}

/** Whether `op` names a tunnel op of the protocol. */
export function isTunnelOpName(op: string): boolean {
  return isOpName(op) && isTunnel(op)
}

function isTunnel(op: OpName): op is TunnelOpName {
  return isTunnelOp(op)
}

function isOpName(op: string): op is OpName {
  return Object.hasOwn(ops, op)
}

function isStream(op: OpName): op is StreamOpName {
  return isStreamOp(op)
}

/** Whether `op` names a stream op of the protocol. */
export function isStreamOpName(op: string): boolean {
  return isOpName(op) && isStream(op)
}

const unknownOp = (op: string) => new OpError('validation_error', `unknown op "${op.slice(0, 100)}"`)

async function runCall<O extends CallOpName>(op: O, args: unknown, ctx: OpContext): Promise<OpResult<O>> {
  // TypeScript widens `handlers[op]` to the union of all handlers; this one is op's own.
  const handler = handlers[op] as CallHandler<O>
  return handler(parseArgs(op, args), ctx)
}

async function runStream<O extends StreamOpName>(
  op: O,
  args: unknown,
  ctx: StreamContext,
): Promise<StreamEnd> {
  const handler = handlers[op] as StreamHandler<O>
  return handler(parseArgs(op, args), ctx)
}

function parseArgs<O extends OpName>(op: O, args: unknown): OpArgs<O> {
  const parsed = ops[op].args.safeParse(args)
  if (!parsed.success) {
    throw new OpError('validation_error', `invalid arguments for ${op}: ${z.prettifyError(parsed.error)}`)
  }
  // TypeScript widens `ops[op]` to the union of all ops; the schema parsed is this op's own.
  return parsed.data as OpArgs<O>
}
