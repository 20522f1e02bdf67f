import { parseArgs } from 'node:util'
import { type BerthClient, BerthError, type ClientOptions, createClient } from '@berth/client'
import pkg from '../package.json' with { type: 'json' }
import {
  type Command,
  type CommandContext,
  EXIT,
  type ExitCode,
  type ParsedArgs,
  UsageError,
} from './command.ts'
import { loadAll, loadCommand, registry } from './commands/index.ts'
import { nodeFetch } from './fetch/index.ts'
import { commandHelp, GLOBAL_OPTIONS, listHelp, usageLine } from './help.ts'
import { errorLine, oneLine } from './output.ts'
import { resolveProfile } from './profiles.ts'

// The entry of `berth`: finds the command in argv, parses its options, runs it and turns what it
// threw into the documented exit code and one line on stderr.

const NAMES = Object.keys(registry)
const GLOBAL_FLAGS = new Set(['--json', '--help', '-h', '--version'])

/** The command's words at the front of argv (global options may come among them) and the rest. */
function splitCommand(argv: string[]): { words: string[]; rest: string[] } {
  const words: string[] = []
  const rest: string[] = []
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--profile') {
      rest.push(arg, ...argv.slice(i + 1, i + 2))
      i++
    } else if (GLOBAL_FLAGS.has(arg) || arg.startsWith('--profile=')) {
      rest.push(arg)
    } else if (!arg.startsWith('-') && isPrefix([...words, arg])) {
      words.push(arg)
    } else break
  }
  return { words, rest: [...rest, ...argv.slice(i)] }
}

function isPrefix(words: string[]): boolean {
  const name = words.join(' ')
  return NAMES.some((n) => n === name || n.startsWith(`${name} `))
}

function parse(command: Command, args: string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries({ ...GLOBAL_OPTIONS, ...command.options }).map(([name, spec]) => [
      name,
      {
        type: spec.type,
        ...(spec.short ? { short: spec.short } : {}),
        ...(spec.multiple ? { multiple: true } : {}),
      },
    ]),
  )
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true })
    return { values: values as ParsedArgs['values'], positionals }
  } catch (err) {
    // parseArgs' own advice (about `--`) is longer than the mistake it names: its first sentence only.
    const message = (err as Error).message.split(/\.\s/)[0]!
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(message)
    throw err
  }
}

function context(values: ParsedArgs['values'], signal: AbortSignal): CommandContext {
  let client: Promise<BerthClient> | undefined
  const env = process.env
  const connect = (options: ClientOptions) =>
    createClient({ ...options, fetch: (input, init) => nodeFetch(input, { ...init, signal }) })
  return {
    client: () => {
      const profile = typeof values.profile === 'string' ? values.profile : undefined
      client ??= resolveProfile(env, profile).then(connect)
      return client
    },
    connect,
    commands: loadAll,
    json: values.json === true,
    color: process.stdout.isTTY === true && !env.NO_COLOR,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    signal,
    env,
  }
}

/** The exit code of what a command threw, with its one line for stderr. */
function failure(err: unknown, command: Command | undefined, signal: AbortSignal): [ExitCode, string] {
  if (signal.aborted) return [EXIT.interrupted, '']
  if (err instanceof UsageError) {
    const usage = command ? `\nusage: ${usageLine(command)} (see berth ${command.name} --help)` : ''
    return [EXIT.usage, `berth: ${err.message}${usage}`]
  }
  if (err instanceof BerthError) {
    const code = err.status === 401 ? EXIT.auth : err.status === 404 ? EXIT.notFound : EXIT.failed
    return [code, errorLine(err.body)]
  }
  return [EXIT.failed, `berth: ${oneLine(err instanceof Error ? err.message : String(err))}`]
}

export async function main(argv: string[]): Promise<ExitCode> {
  const controller = new AbortController()
  const stop = () => controller.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const { words, rest } = splitCommand(argv)
  const name = words.join(' ')
  let command: Command | undefined
  try {
    if (!registry[name]) return await outline(words, rest)
    command = await loadCommand(name)
    const args = parse(command, rest)
    if (args.values.help) {
      process.stdout.write(commandHelp(command))
      return EXIT.ok
    }
    return (await command.run(context(args.values, controller.signal), args)) ?? EXIT.ok
  } catch (err) {
    const [code, line] = failure(err, command, controller.signal)
    if (line) process.stderr.write(`${line}\n`)
    return code
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

/** No whole command named: the version, the overview, the commands under a word, or a usage error. */
async function outline(words: string[], rest: string[]): Promise<ExitCode> {
  if (words.length === 0 && rest.includes('--version')) {
    process.stdout.write(`berth ${pkg.version}\n`)
    return EXIT.ok
  }
  const under = words.join(' ')
  const commands = (await loadAll()).filter((c) => !under || c.name.startsWith(`${under} `))
  const asked = rest.includes('--help') || rest.includes('-h') || (words.length === 0 && rest.length === 0)
  if (asked) {
    process.stdout.write(listHelp(commands, under || undefined))
    return EXIT.ok
  }
  const unknown = rest.find((arg) => !arg.startsWith('-'))
  const what = unknown
    ? `unknown command: berth ${[...words, unknown].join(' ')}`
    : `berth ${under} needs a command`
  process.stderr.write(`berth: ${what}\n${listHelp(commands, under || undefined)}`)
  return EXIT.usage
}

process.exitCode = await main(process.argv.slice(2))
