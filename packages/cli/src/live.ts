import type { CommandContext } from './command.ts'

// Output that follows something while it runs: JSON lines for programs, and a status line that a
// terminal redraws in place while lines scroll above it.

/** One JSON value on one line: what `--json` prints for each event of a stream. */
export function printJsonLine(ctx: Pick<CommandContext, 'stdout'>, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value)}\n`)
}

const CLEAR_LINE = '\r\u001b[2K'

/**
 * A status line at the bottom of `out`. On a TTY it is redrawn in place and `print` puts lines
 * above it; elsewhere (a CI log) each new status is a line of its own, printed as it changes.
 */
export class StatusLine {
  private text = ''
  private shown = false

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    readonly tty = out.isTTY === true,
  ) {}

  /** Shows `text` as the status (a TTY redraws it; elsewhere it prints only when it changed). */
  set(text: string): void {
    if (!this.tty) {
      if (text !== this.text) this.out.write(`${text}\n`)
      this.text = text
      return
    }
    this.text = text
    this.out.write(`${CLEAR_LINE}${text}`)
    this.shown = true
  }

  /** A line above the status. */
  print(line: string): void {
    if (!this.tty) {
      this.out.write(`${line}\n`)
      return
    }
    this.out.write(`${CLEAR_LINE}${line}\n`)
    if (this.shown) this.out.write(this.text)
  }

  /** Takes the status line away (a TTY), so what follows starts on a clean line. */
  clear(): void {
    if (this.tty && this.shown) this.out.write(CLEAR_LINE)
    this.shown = false
  }
}

/** `ms` as a person reads a duration: 850ms, 12.3s, 2m05s. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

/** A byte count for people: 512 B, 12.0 KiB, 3.4 MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}
