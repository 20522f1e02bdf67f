import { ApiError } from '../errors.ts'
import type { AgentStream, StreamChunk, StreamControl } from './hub.ts'

export interface ChunkQueueOptions {
  /** Hands bytes the reader took back to the agent as flow-control credit. */
  credit?: (bytes: number) => void
  /** Bytes taken before a credit goes out (sooner when the reader has taken all there is). */
  creditBatch?: number
  /** A reader that takes nothing for this long while output waits is cut off, and the work stops. */
  stallMs?: number
}

/**
 * An AgentStream fed by frames as they arrive: chunks queue until the reader takes them, and
 * what the reader took is credited back, so the agent sends no more than the window ahead of
 * the reader: a slow reader slows its own stream, and memory here stays bounded.
 */
export class ChunkQueue implements AgentStream {
  exitCode: number | undefined
  private readonly chunks: StreamChunk[] = []
  private failure: ApiError | null = null
  private ended = false
  private wake: (() => void) | null = null
  private uncredited = 0
  private lastTaken = Date.now()
  private stallTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly onCancel: () => void,
    private readonly onControl: (message: StreamControl) => void = () => {},
    private readonly options: ChunkQueueOptions = {},
  ) {}

  control(message: StreamControl): void {
    if (!this.ended) this.onControl(message)
  }

  push(chunk: StreamChunk): void {
    if (this.ended) return
    this.chunks.push(chunk)
    this.armStall()
    this.notify()
  }

  end(exitCode?: number, failure?: ApiError): void {
    if (this.ended) return
    this.ended = true
    clearTimeout(this.stallTimer)
    this.exitCode = exitCode
    this.failure = failure ?? null
    this.notify()
  }

  cancel(): void {
    if (this.ended) return
    this.end()
    this.onCancel()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    try {
      while (true) {
        const next = this.chunks.shift()
        if (next) {
          this.taken(next.data.length)
          yield next
          continue
        }
        // All taken: whatever is not credited yet goes back now, so the agent never waits on us.
        this.flushCredit()
        if (this.ended) {
          if (this.failure) throw this.failure
          return
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve
        })
      }
    } finally {
      // A reader that stops early (break, client gone) stops the work on the host.
      if (!this.ended) this.cancel()
    }
  }

  private taken(bytes: number): void {
    this.lastTaken = Date.now()
    this.uncredited += bytes
    if (this.uncredited >= (this.options.creditBatch ?? 0)) this.flushCredit()
  }

  private flushCredit(): void {
    if (this.uncredited === 0 || !this.options.credit || this.ended) return
    this.options.credit(this.uncredited)
    this.uncredited = 0
  }

  private armStall(): void {
    const { stallMs } = this.options
    if (!stallMs || this.stallTimer !== undefined) return
    this.stallTimer = setTimeout(
      () => {
        this.stallTimer = undefined
        if (this.ended || this.chunks.length === 0) return
        if (Date.now() - this.lastTaken < stallMs) return this.armStall()
        this.end(
          undefined,
          new ApiError('timeout', `the reader took nothing for ${stallMs} ms`, { code: 'reader_stalled' }),
        )
        this.onCancel()
      },
      Math.max(1, stallMs - (Date.now() - this.lastTaken)),
    )
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}
