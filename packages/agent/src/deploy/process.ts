import { spawn } from 'node:child_process'
import type { LineWriter } from './job.ts'

export interface ProcessOptions {
  cwd: string
  env: NodeJS.ProcessEnv
  signal: AbortSignal
  /** Where output goes line by line; stdout is captured instead when not given. */
  stdout?: LineWriter
  stderr: LineWriter
}

export interface ProcessEnd {
  code: number
  /** stdout, when no writer took it. */
  output: string
}

/**
 * Runs a program with an argument array (never a shell). Aborting `signal` kills it and every
 * process it started (git runs ssh and its remote helpers), and rejects with the signal's reason.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions,
): Promise<ProcessEnd> {
  const { signal } = options
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    // Its own process group, so that a kill reaches its children too.
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let output = ''
    child.stdout.on('data', (piece: Buffer) => {
      if (options.stdout) options.stdout.write(piece)
      else output += piece.toString('utf8')
    })
    child.stderr.on('data', (piece: Buffer) => options.stderr.write(piece))
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    signal.addEventListener('abort', kill, { once: true })
    child.once('error', (err) => {
      signal.removeEventListener('abort', kill)
      reject(err)
    })
    child.once('close', (code, killedBy) => {
      signal.removeEventListener('abort', kill)
      options.stdout?.end()
      options.stderr.end()
      if (signal.aborted) reject(signal.reason)
      else resolve({ code: code ?? (killedBy ? 128 : 1), output })
    })
  })
}
