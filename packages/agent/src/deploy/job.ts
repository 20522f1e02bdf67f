import type { DeployJobData, DeploymentState, deployStatus, LogLine, ToApiBody } from '@berth/shared'
import type { z } from 'zod'
import type { Masker } from './mask.ts'

export type JobFrame = Extract<ToApiBody, { type: 'job' }>
export type DeployStatus = z.infer<typeof deployStatus>
export type LogStream = LogLine['stream']

/** Lines a job keeps for `deploy.status`; older ones are dropped first. */
export const MAX_JOB_LINES = 10_000
/** A line longer than this is cut. */
export const MAX_LINE_BYTES = 4096
/** Log lines wait at most this long before they go out in a frame… */
const FLUSH_MS = 100
/** …or until this many are waiting. */
const FLUSH_LINES = 200
/** How many lines past the limit are held before the oldest are dropped, so dropping is not done per line. */
const DROP_SLACK = 500

type Facts = Omit<DeployJobData, 'logs'>

/**
 * One deploy as the agent runs it: its state, what it has found out (commit, image, host port,
 * containers) and its output, numbered per deployment from 0 and masked before anything is kept.
 * Every change goes out as a `job` frame through `send`, which drops frames while no link is up;
 * `status()` gives everything again after a reconnect.
 */
export class DeployJob {
  private current: DeploymentState = 'queued'
  private readonly facts: Facts = {}
  private readonly lines: LogLine[] = []
  private nextSeq = 0
  private pending: LogLine[] = []
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  /** Aborted by deploy.cancel; its reason says so. */
  readonly cancel = new AbortController()
  /** The new containers serve: from here on the deploy ends `running` and is not cancelled. */
  serving = false
  /** When the job reached a final state; null while it runs. */
  finishedAt: number | null = null

  constructor(
    readonly id: string,
    private readonly mask: Masker,
    private readonly send: (frame: JobFrame) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): DeploymentState {
    return this.current
  }

  get finished(): boolean {
    return this.finishedAt !== null
  }

  /** Moves to `state`, with what is known now; output logged before goes out first. */
  move(state: DeploymentState, data: Facts = {}): void {
    this.flush()
    this.current = state
    Object.assign(this.facts, data)
    this.send({ type: 'job', jobId: this.id, state, data })
  }

  /** Records something found out without a change of state (a commit, the host port). */
  note(data: Facts): void {
    this.move(this.current, data)
  }

  /** Ends the job in a final state; nothing is logged after. */
  finish(state: 'running' | 'failed' | 'cancelled', data: Facts = {}): void {
    this.move(state, data)
    this.finishedAt = this.now()
    clearTimeout(this.flushTimer)
  }

  /** Logs text as one or more lines (split at line breaks; a carriage return keeps what follows it). */
  log(stream: LogStream, text: string): void {
    if (this.finished) return
    for (const raw of text.split('\n')) {
      const line = raw.slice(raw.lastIndexOf('\r', raw.length - 2) + 1).replace(/\s+$/, '')
      if (line.length === 0) continue
      this.push({ seq: this.nextSeq++, at: this.now(), stream, text: cut(this.mask(line)) })
    }
  }

  /** A writer for output that comes in pieces: whole lines are logged as they complete. */
  lineWriter(stream: LogStream): LineWriter {
    let rest = ''
    return {
      write: (piece) => {
        rest += typeof piece === 'string' ? piece : piece.toString('utf8')
        const end = rest.lastIndexOf('\n')
        if (end === -1) {
          // A line that never ends is still logged, cut, before it grows without bound.
          if (rest.length > MAX_LINE_BYTES * 4) {
            this.log(stream, rest)
            rest = ''
          }
          return
        }
        this.log(stream, rest.slice(0, end))
        rest = rest.slice(end + 1)
      },
      end: () => {
        if (rest) this.log(stream, rest)
        rest = ''
      },
    }
  }

  /** Everything the job holds, for `deploy.status`. */
  status(): DeployStatus {
    return {
      deployment_id: this.id,
      state: this.current,
      ...this.facts,
      logs: this.lines.slice(-MAX_JOB_LINES),
    }
  }

  private push(line: LogLine): void {
    this.lines.push(line)
    if (this.lines.length > MAX_JOB_LINES + DROP_SLACK)
      this.lines.splice(0, this.lines.length - MAX_JOB_LINES)
    this.pending.push(line)
    if (this.pending.length >= FLUSH_LINES) this.flush()
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  private flush(): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.pending.length === 0) return
    const logs = this.pending
    this.pending = []
    this.send({ type: 'job', jobId: this.id, state: this.current, data: { logs } })
  }
}

export interface LineWriter {
  write(piece: string | Buffer): void
  end(): void
}

/** `text` cut to at most MAX_LINE_BYTES of UTF-8, on a character boundary. */
function cut(text: string): string {
  if (Buffer.byteLength(text) <= MAX_LINE_BYTES) return text
  const bytes = Buffer.from(text, 'utf8')
  // Room for the ellipsis (3 bytes); back up to the first byte of a character.
  let end = MAX_LINE_BYTES - 3
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return `${bytes.subarray(0, end).toString('utf8')}…`
}
