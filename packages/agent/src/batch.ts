import type { StreamName } from './ops/context.ts'

/**
 * Gathers a stream's pieces of output into larger chunks: a log written line by line would
 * otherwise cross the link as one frame a line. A chunk goes out when it reaches `maxBytes`,
 * when the output switches between stdout and stderr, or `delayMs` after its first piece, so a
 * quiet follow still sees each line at once (within the delay). Chunks keep their order.
 */
export class OutputBatcher {
  private parts: Buffer[] = []
  private size = 0
  private stream: StreamName | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private sent: Promise<void> = Promise.resolve()

  constructor(
    private readonly emit: (stream: StreamName, data: Buffer) => Promise<void>,
    private readonly maxBytes = 64 * 1024,
    private readonly delayMs = 5,
  ) {}

  /** Adds a piece; waits only when a full chunk goes out (the link's backpressure). */
  async push(stream: StreamName, data: Buffer | string): Promise<void> {
    if (this.stream !== null && stream !== this.stream) await this.flush()
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    this.stream = stream
    this.parts.push(bytes)
    this.size += bytes.length
    if (this.size >= this.maxBytes) await this.flush()
    else this.timer ??= setTimeout(() => void this.flush().catch(() => {}), this.delayMs)
  }

  /** Sends what is gathered; resolves once every chunk so far is sent. */
  flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.size > 0 && this.stream !== null) {
      const stream = this.stream
      const data = Buffer.concat(this.parts)
      this.parts = []
      this.size = 0
      this.sent = this.sent.then(() => this.emit(stream, data))
    }
    return this.sent
  }
}
