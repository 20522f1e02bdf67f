import { spawn } from 'node:child_process'
import { Child, ROOT } from './process.ts'

// The real `berth` bundle run as a child process, as a user or a CI job runs it.

export const CLI = `${ROOT}packages/cli/dist/berth.mjs`

/** BERTH_URL and BERTH_TOKEN: what a CI job gives instead of a saved profile. */
export const cliEnv = (url: string, token: string) => ({ BERTH_URL: url, BERTH_TOKEN: token, NO_COLOR: '1' })

/** Starts `berth …args`; its output is kept on the Child. */
export function startCli(args: string[], env: Record<string, string>, stdin?: string): Child {
  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  })
  if (stdin !== undefined) proc.stdin?.end(stdin)
  return new Child(proc)
}

/** Runs `berth …args` to its end: its exit code, stdout and stderr apart. */
export async function runCli(args: string[], env: Record<string, string>, stdin?: string) {
  const child = startCli(args, env, stdin)
  let stdout = ''
  let stderr = ''
  child.proc.stdout?.on('data', (d) => {
    stdout += String(d)
  })
  child.proc.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  const code = await child.exited
  return { code, stdout, stderr }
}
