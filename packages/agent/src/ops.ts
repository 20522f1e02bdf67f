import { statfs } from 'node:fs/promises'
import os from 'node:os'
import {
  type AgentError,
  type AgentErrorKind,
  type OpArgs,
  type OpName,
  type OpResult,
  ops,
} from '@berth/shared'
import { z } from 'zod'
import { type Docker, DockerError } from './docker.ts'
import { messageOf } from './log.ts'

/** What a handler works with: the host's Docker, and a signal that aborts when the call is cancelled or times out. */
export interface OpContext {
  docker: Docker
  signal: AbortSignal
}

type OpHandler<O extends OpName> = (args: OpArgs<O>, ctx: OpContext) => Promise<OpResult<O>>

/** One handler per op of the protocol: an op added in @berth/shared without a handler here does not compile. */
export type OpHandlers = { [O in OpName]: OpHandler<O> }

/** A call that failed in a way the API should hear about as `kind`. */
export class OpError extends Error {
  constructor(
    readonly kind: AgentErrorKind,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'OpError'
  }
}

export const handlers: OpHandlers = {
  'docker.ping': async (_args, { docker, signal }) => {
    const started = performance.now()
    await docker.ping(signal)
    return { docker_ms: Math.round((performance.now() - started) * 100) / 100 }
  },

  'host.resources': async (_args, { docker, signal }) => {
    const info = await docker.info(signal)
    const total = os.totalmem()
    const free = os.freemem()
    const [one, five, fifteen] = os.loadavg()
    return {
      cpus: os.cpus().length,
      load: [one ?? 0, five ?? 0, fifteen ?? 0],
      memory: { total, used: total - free, free },
      disk: await diskOf(info.rootDir),
      uptime_s: Math.round(os.uptime()),
      docker: { containers: info.containers, running: info.running, images: info.images },
    }
  },
}

/** Space on the file system of Docker's data, or of `/` when the agent cannot see Docker's folder. */
async function diskOf(dockerRoot: string | null): Promise<OpResult<'host.resources'>['disk']> {
  for (const path of dockerRoot ? [dockerRoot, '/'] : ['/']) {
    try {
      const fs = await statfs(path)
      return {
        path,
        total: fs.blocks * fs.bsize,
        used: (fs.blocks - fs.bfree) * fs.bsize,
        free: fs.bavail * fs.bsize,
      }
    } catch (err) {
      if (path === '/') throw new OpError('agent_error', `cannot read the disk usage of /: ${messageOf(err)}`)
    }
  }
  throw new OpError('agent_error', 'cannot read the disk usage of /')
}

/** Runs the op a call names, with its arguments checked against the protocol. */
export function runOp(op: string, args: unknown, ctx: OpContext): Promise<unknown> {
  if (!isOpName(op))
    return Promise.reject(new OpError('validation_error', `unknown op "${op.slice(0, 100)}"`))
  return run(op, args, ctx)
}

function isOpName(op: string): op is OpName {
  return Object.hasOwn(ops, op)
}

async function run<O extends OpName>(op: O, args: unknown, ctx: OpContext): Promise<OpResult<O>> {
  const parsed = ops[op].args.safeParse(args)
  if (!parsed.success) {
    throw new OpError('validation_error', `invalid arguments for ${op}: ${z.prettifyError(parsed.error)}`)
  }
  const handler: OpHandler<O> = handlers[op]
  // TypeScript widens `ops[op]` to the union of all ops; the schema parsed is this op's own.
  return handler(parsed.data as OpArgs<O>, ctx)
}

/** How a failure is reported to the API. */
export function toAgentError(err: unknown): AgentError {
  if (err instanceof OpError) {
    return err.details === undefined
      ? { kind: err.kind, message: err.message }
      : { kind: err.kind, message: err.message, details: err.details }
  }
  if (err instanceof DockerError) {
    const kind = err.status === 404 ? 'not_found' : err.status === 409 ? 'conflict' : 'agent_error'
    return { kind, message: err.message }
  }
  return { kind: 'agent_error', message: messageOf(err) }
}
