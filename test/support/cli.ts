import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Child, ROOT } from './process.ts'

export const CLI_BUNDLE = 'packages/cli/dist/berth.mjs'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed as one JSON document (what `--json` promises). */
  json(): any
}

export interface CliOptions {
  /** Over the tests' environment; BERTH_URL and BERTH_TOKEN are unset unless given here. */
  env?: Record<string, string | undefined>
  input?: string
  /** Called with all of stdout so far, each time more arrives (to act on output while it runs). */
  onStdout?: (stdout: string) => void
}

/** A config folder of its own (XDG_CONFIG_HOME), so no test reads another's profiles or the user's. */
export function configHome(): string {
  return mkdtempSync(join(tmpdir(), 'berth-cli-config-'))
}

/** Runs the bundled `berth` as a user's shell would, and resolves once it exits. */
export function berth(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI_BUNDLE, ...args], {
    cwd: ROOT,
    env: { ...process.env, BERTH_URL: undefined, BERTH_TOKEN: undefined, NO_COLOR: undefined, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += String(d)
    opts.onStdout?.(stdout)
  })
  child.stderr.on('data', (d) => {
    stderr += String(d)
  })
  child.stdin.end(opts.input ?? '')
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        json: () => {
          try {
            return JSON.parse(stdout)
          } catch {
            throw new Error(`berth ${args.join(' ')} printed no JSON (exit ${code}):\n${stdout}\n${stderr}`)
          }
        },
      }),
    )
  })
}

/** BERTH_URL and BERTH_TOKEN: what a CI job gives instead of a saved profile. */
export const ciEnv = (url: string, token: string) => ({ BERTH_URL: url, BERTH_TOKEN: token })

/** Starts the bundled `berth` and leaves it running (a follow): its output is kept on the Child. */
export function startBerth(args: string[], opts: CliOptions = {}): Child {
  return new Child(
    spawn(process.execPath, [CLI_BUNDLE, ...args], {
      cwd: ROOT,
      env: { ...process.env, BERTH_URL: undefined, BERTH_TOKEN: undefined, NO_COLOR: undefined, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}
