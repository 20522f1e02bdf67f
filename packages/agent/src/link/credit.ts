/**
 * A stream's flow-control window: data may be sent while what was sent and not yet credited
 * back stays within it (one chunk larger than the window goes alone). Without a window, no wait.
 */
export class StreamCredit {
  /** Bytes taken for sending, and of those the ones not credited back yet. */
  sent = 0
  inFlight = 0
  private wake: (() => void) | null = null

  constructor(private readonly window: number | null) {}

  async take(bytes: number, signal: AbortSignal): Promise<void> {
    const window = this.window
    if (window !== null) {
      while (this.inFlight > 0 && this.inFlight + bytes > window && !signal.aborted) {
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener('abort', done)
            this.wake = null
            resolve()
          }
          this.wake = done
          signal.addEventListener('abort', done, { once: true })
        })
      }
      this.inFlight += bytes
    }
    this.sent += bytes
  }

  grant(bytes: number): void {
    this.inFlight = Math.max(0, this.inFlight - bytes)
    this.wake?.()
  }
}
