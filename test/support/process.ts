import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
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
  return spawnProcess(process.execPath, args, env)
}

/** Starts a program from the repository's root with the tests' environment plus `env`. */
export function spawnProcess(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
): Child {
  return new Child(
    spawn(command, args, {
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

/** `n` free ports that differ from each other (each is free when asked, so two asks may give one). */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
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

/** Whether a process of this id runs (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Resident memory of a process, from /proc (Linux); 0 once it is gone. */
export function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1] ?? 0) * 1024
  } catch {
    return 0
  }
}

/** Resident memory of the processes named `name` in process group `group`, summed. */
export function groupRss(group: number, name: string): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      // Fields after the command: state ppid pgrp.
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
      if (comm === name && pgrp === group) total += rssOf(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return total
}
