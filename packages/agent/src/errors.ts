import type { AgentError, AgentErrorKind } from '@berth/shared'
import { DockerError } from './docker/index.ts'
import { messageOf } from './log.ts'

/** A call that failed in a way the API should hear about as `kind`. */
export class OpError extends Error {
  constructor(
    readonly kind: AgentErrorKind,
    message: string,
    readonly details?: unknown,
    readonly code?: string,
  ) {
    super(message)
    this.name = 'OpError'
  }
}

/** The kind each Docker status becomes; anything else (5xx, Docker unreachable) is an agent_error. */
const DOCKER_STATUS_KINDS: Record<number, AgentErrorKind> = {
  400: 'validation_error',
  // Docker forbids what an object's nature refuses, e.g. removing the built-in bridge network.
  403: 'state_error',
  404: 'not_found',
  409: 'conflict',
}

/** How a failure is reported to the API. */
export function toAgentError(err: unknown): AgentError {
  if (err instanceof OpError) {
    return {
      kind: err.kind,
      message: err.message,
      ...(err.code === undefined ? {} : { code: err.code }),
      ...(err.details === undefined ? {} : { details: err.details }),
    }
  }
  if (err instanceof DockerError) {
    return {
      kind: (err.status !== null && DOCKER_STATUS_KINDS[err.status]) || 'agent_error',
      message: err.message,
    }
  }
  return { kind: 'agent_error', message: messageOf(err) }
}

/** `err` as an OpError of `kind` when it is a DockerError that `matches`; else `err` unchanged. */
export function recast(err: unknown, kind: AgentErrorKind, matches: (err: DockerError) => boolean): unknown {
  return err instanceof DockerError && matches(err) ? new OpError(kind, err.message) : err
}
