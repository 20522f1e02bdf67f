import type { BerthClient, ClientOptions } from '@berth/client'

/** How `berth` ends: the documented exit codes (130, as shells do, when Ctrl-C stopped it). */
export const EXIT = { ok: 0, failed: 1, usage: 2, auth: 3, notFound: 4, interrupted: 130 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** One option of a command, as node:util's parseArgs takes it, with the help text. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  description: string
}

export interface ParsedArgs {
  positionals: string[]
  values: Record<string, string | boolean | string[] | undefined>
}

/** What a command runs with. */
export interface CommandContext {
  /** The API client of the profile chosen (`--profile`, BERTH_URL/BERTH_TOKEN, the default one). */
  client(): Promise<BerthClient>
  /** A client of a URL and token not saved yet (login), cancelled by `signal` like client()'s. */
  connect(options: ClientOptions): BerthClient
  /** Every command of the registry (loads every command file: for completion and overviews). */
  commands(): Promise<Command[]>
  /** `--json`: one JSON document (or JSON lines when streaming) on stdout, nothing else there. */
  json: boolean
  /** Colour is allowed: stdout is a TTY and NO_COLOR is not set. */
  color: boolean
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  stdin: NodeJS.ReadStream
  /** Aborts on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal
  env: NodeJS.ProcessEnv
}

/** A command: `name` is its words after `berth`, e.g. `deploy` or `containers logs`. */
export interface Command {
  name: string
  summary: string
  /** The arguments after the name, e.g. `SERVER CONTAINER [CMD...]`. */
  usage: string
  /** Shown under --help; each a whole command line. */
  examples: string[]
  options: Record<string, OptionSpec>
  /** Resolves to the exit code (none: 0); a thrown BerthError or UsageError becomes one in main. */
  run(ctx: CommandContext, args: ParsedArgs): Promise<ExitCode | undefined> | Promise<void>
}

/** A mistake in how a command was called: exit code 2, with the command's usage. */
export class UsageError extends Error {
  override name = 'UsageError'
}
