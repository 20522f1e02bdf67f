// A followed log as the page holds it: the last `cap` lines in a ring, whatever the rate they come
// at, so memory stays bounded however long the page stays open.

export type LogStream = 'stdout' | 'stderr'

export interface LogLine {
  /** The line's number since the follow began (1 for the first). */
  n: number
  stream: LogStream
  text: string
}

export class LogBuffer {
  private readonly ring: (LogLine | undefined)[]
  private start = 0
  /** Lines held now (at most `cap`). */
  size = 0
  /** Lines ever added, kept or dropped. */
  total = 0

  constructor(readonly cap = 10_000) {
    this.ring = new Array(cap)
  }

  push(stream: LogStream, text: string): void {
    const line = { n: ++this.total, stream, text }
    if (this.size < this.cap) {
      this.ring[(this.start + this.size++) % this.cap] = line
    } else {
      this.ring[this.start] = line
      this.start = (this.start + 1) % this.cap
    }
  }

  /** The i-th line held, oldest first. */
  at(i: number): LogLine {
    return this.ring[(this.start + i) % this.cap] as LogLine
  }

  /** Positions of the held lines whose text contains `query` (case-insensitive). */
  matching(query: string): number[] {
    const needle = query.toLowerCase()
    const out: number[] = []
    for (let i = 0; i < this.size; i++) if (this.at(i).text.toLowerCase().includes(needle)) out.push(i)
    return out
  }

  clear(): void {
    this.ring.fill(undefined)
    this.start = 0
    this.size = 0
  }
}

/**
 * Lines that arrive between two frames, handed over in one batch per animation frame: a burst of
 * thousands of lines a second costs one render a frame, not one each. While `held`, lines wait
 * (the last `cap` of them) and go over when it is released.
 */
export class FrameBatcher {
  private pending: [LogStream, string][] = []
  private scheduled = 0
  held = false

  constructor(
    private readonly cap: number,
    private readonly flush: (lines: [LogStream, string][]) => void,
  ) {}

  add(stream: LogStream, text: string): void {
    this.pending.push([stream, text])
    // Bounded while nothing draws (a paused view, a hidden tab with no frames).
    if (this.pending.length > this.cap * 2) this.pending.splice(0, this.pending.length - this.cap)
    this.schedule()
  }

  release(): void {
    this.held = false
    this.schedule()
  }

  stop(): void {
    cancelAnimationFrame(this.scheduled)
    this.pending = []
  }

  private schedule(): void {
    if (this.scheduled || this.held || this.pending.length === 0) return
    this.scheduled = requestAnimationFrame(() => {
      this.scheduled = 0
      if (this.held) return
      const lines = this.pending.length > this.cap ? this.pending.slice(-this.cap) : this.pending
      this.pending = []
      this.flush(lines)
    })
  }
}
