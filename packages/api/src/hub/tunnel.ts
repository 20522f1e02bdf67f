import type { ApiError } from '../errors.ts'
import type { AgentTunnel } from './hub.ts'

/** What a tunnel does on its link. */
export interface TunnelIo {
  /** Sends bytes to the host's side. */
  send(data: Uint8Array): void
  /** Tells the agent this side sends no more. */
  eof(): void
  /** Hands bytes the reader took back to the agent as credit. */
  credit(bytes: number): void
  /** Closes the tunnel on the agent. */
  cancel(): void
}

/**
 * An AgentTunnel fed by its link's frames. The agent sends no more than the window ahead of this
 * side's reader, which credits what it takes; this side sends no more than the window ahead of
 * the agent's credit for what it wrote to Docker. So neither side holds more than a window.
 */
export class LinkTunnel implements AgentTunnel {
  readonly readable: ReadableStream<Uint8Array>
  readonly writable: WritableStream<Uint8Array>
  private readonly queue: Uint8Array[] = []
  private ended = false
  private failure: ApiError | null = null
  /** Bytes taken by the reader and not yet credited back. */
  private uncredited = 0
  /** Bytes sent to the agent that it has not credited back. */
  private inFlight = 0
  private wakeReader: (() => void) | null = null
  private wakeWriter: (() => void) | null = null

  constructor(
    private readonly io: TunnelIo,
    private readonly window: number,
  ) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.pull(controller),
        cancel: () => this.close(),
      },
      { highWaterMark: 0 },
    )
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => {
        if (!this.ended) this.io.eof()
      },
      abort: () => this.close(),
    })
  }

  /** Bytes from the host. */
  push(data: Uint8Array): void {
    if (this.ended) return
    this.queue.push(data)
    this.notify()
  }

  /** The agent wrote this many of our bytes to the host's side. */
  grant(bytes: number): void {
    this.inFlight = Math.max(0, this.inFlight - bytes)
    this.wakeWriter?.()
  }

  /** The host's side is done (or the link dropped, with why): the reader gets what is queued, then the end. */
  end(failure?: ApiError): void {
    if (this.ended) return
    this.ended = true
    this.failure = failure ?? null
    this.notify()
    this.wakeWriter?.()
  }

  close(): void {
    if (this.ended) return
    this.queue.length = 0
    this.end()
    this.io.cancel()
  }

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (this.queue.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        this.wakeReader = resolve
      })
    }
    const next = this.queue.shift()
    if (next) {
      controller.enqueue(next)
      this.uncredited += next.length
      // In batches; at once when the reader has caught up, so the agent never waits on it.
      if (this.uncredited >= this.window / 4 || this.queue.length === 0) {
        if (!this.ended) this.io.credit(this.uncredited)
        this.uncredited = 0
      }
      return
    }
    if (this.failure) controller.error(this.failure)
    else controller.close()
  }

  private async write(chunk: Uint8Array): Promise<void> {
    while (!this.ended && this.inFlight > 0 && this.inFlight + chunk.length > this.window) {
      await new Promise<void>((resolve) => {
        this.wakeWriter = resolve
      })
    }
    // Bytes for a connection the host has closed have nowhere to go.
    if (this.ended) return
    this.inFlight += chunk.length
    this.io.send(chunk)
  }

  private notify(): void {
    const wake = this.wakeReader
    this.wakeReader = null
    wake?.()
  }
}
