import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'

export const ROOT = new URL('../..', import.meta.url).pathname

/** A child process whose output is kept, so a test can wait for a line or show it on failure. */
export class Child {
  output = ''
  readonly exited: Promise<number | null>

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.on('data', (d) => {
      this.output += String(d)
    })
    proc.stderr?.on('data', (d) => {
      this.output += String(d)
    })
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)))
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<number | null> {
    if (!this.running) return this.proc.exitCode
    this.proc.kill(signal)
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }
}

export function spawnNode(args: string[], env: Record<string, string | undefined>): Child {
  return new Child(
    spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
}
