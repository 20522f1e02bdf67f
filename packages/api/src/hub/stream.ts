import type { ApiError } from '../errors.ts'
import type { AgentStream, StreamChunk, StreamControl } from './hub.ts'

/** An AgentStream fed by frames as they arrive: chunks queue until the reader takes them. */
export class ChunkQueue implements AgentStream {
  exitCode: number | undefined
  private readonly chunks: StreamChunk[] = []
  private failure: ApiError | null = null
  private ended = false
  private wake: (() => void) | null = null

  constructor(
    private readonly onCancel: () => void,
    private readonly onControl: (message: StreamControl) => void = () => {},
  ) {}

  control(message: StreamControl): void {
    if (!this.ended) this.onControl(message)
  }

  push(chunk: StreamChunk): void {
    if (this.ended) return
    this.chunks.push(chunk)
    this.notify()
  }

  end(exitCode?: number, failure?: ApiError): void {
    if (this.ended) return
    this.ended = true
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
          yield next
          continue
        }
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

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}
