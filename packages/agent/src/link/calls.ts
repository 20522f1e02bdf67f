import type { AgentError } from '@berth/shared'
import { OpError, toAgentError } from '../errors.ts'

/** What a call came to: its data, or the error the API is told. */
export type CallOutcome = { ok: true; data: unknown } | { ok: false; error: AgentError }

export interface CallRequest {
  id: string
  op: string
  timeoutMs: number
}

/** How a call id was met: run now, already running, or answered before. */
export type CallRun =
  | { seen: 'new'; outcome: Promise<CallOutcome> }
  | { seen: 'running'; outcome: Promise<CallOutcome> }
  | { seen: 'answered'; outcome: CallOutcome }

export interface CallBookLimits {
  /** How many answered calls are remembered. */
  maxResults: number
  /** How long an answered call is remembered. */
  maxAgeMs: number
}

export const DEFAULT_CALL_LIMITS: CallBookLimits = { maxResults: 1000, maxAgeMs: 10 * 60_000 }

interface Running {
  controller: AbortController
  outcome: Promise<CallOutcome>
}

/**
 * The calls an agent is running and has recently answered, by call id, so that a call the API
 * resends after a reconnect is answered again rather than run twice.
 */
export class CallBook {
  private readonly running = new Map<string, Running>()
  private readonly answered = new Map<string, { outcome: CallOutcome; at: number }>()

  constructor(
    private readonly limits: CallBookLimits = DEFAULT_CALL_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `work` for a call id not seen before, within the call's time limit. */
  run(call: CallRequest, work: (signal: AbortSignal) => Promise<unknown>): CallRun {
    const running = this.running.get(call.id)
    if (running) return { seen: 'running', outcome: running.outcome }
    const answered = this.answer(call.id)
    if (answered) return { seen: 'answered', outcome: answered }

    const controller = new AbortController()
    const timer = setTimeout(() => {
      controller.abort(new OpError('timeout', `${call.op} did not finish within ${call.timeoutMs} ms`))
    }, call.timeoutMs)
    const outcome = this.settle(call.id, controller.signal, work).finally(() => {
      clearTimeout(timer)
      this.running.delete(call.id)
    })
    this.running.set(call.id, { controller, outcome })
    return { seen: 'new', outcome }
  }

  /** Aborts a running call; its outcome becomes an error. */
  cancel(id: string, why = 'the call was cancelled'): boolean {
    const running = this.running.get(id)
    if (!running) return false
    running.controller.abort(new OpError('agent_error', why))
    return true
  }

  get runningCount(): number {
    return this.running.size
  }

  /** Resolves when no call is running, or after `ms` (then aborting what still runs). */
  async drain(ms: number, why: string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms)
    })
    const outcomes = [...this.running.values()].map((r) => r.outcome)
    await Promise.race([Promise.allSettled(outcomes), deadline])
    clearTimeout(timer)
    for (const id of [...this.running.keys()]) this.cancel(id, why)
    await Promise.allSettled(outcomes)
  }

  private async settle(
    id: string,
    signal: AbortSignal,
    work: (signal: AbortSignal) => Promise<unknown>,
  ): Promise<CallOutcome> {
    let outcome: CallOutcome
    try {
      outcome = { ok: true, data: await untilAborted(work(signal), signal) }
    } catch (err) {
      outcome = { ok: false, error: toAgentError(signal.aborted ? signal.reason : err) }
    }
    this.remember(id, outcome)
    return outcome
  }

  private answer(id: string): CallOutcome | null {
    const entry = this.answered.get(id)
    if (!entry) return null
    if (this.now() - entry.at > this.limits.maxAgeMs) {
      this.answered.delete(id)
      return null
    }
    return entry.outcome
  }

  private remember(id: string, outcome: CallOutcome): void {
    const now = this.now()
    this.answered.set(id, { outcome, at: now })
    // Oldest first: a Map iterates in insertion order.
    for (const [oldId, entry] of this.answered) {
      if (this.answered.size <= this.limits.maxResults && now - entry.at <= this.limits.maxAgeMs) break
      this.answered.delete(oldId)
    }
  }
}

/** Settles with `work`, or rejects with the signal's reason as soon as it aborts, whichever is first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  let onAbort = () => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort))
}
