import { openTerminal, type Terminal, type TerminalSignal, type WebSocketClass } from '@berth/client'
import WebSocket from 'ws'
import { type Command, type CommandContext, type ExitCode, UsageError } from '../command.ts'
import { serverId } from '../refs.ts'

// A process in a container, wired to this terminal: raw mode and resizes with -t, plain pipes
// without. berth exits with the process's exit code.

/** Signals this process gets that the remote process gets instead (with -t, Ctrl-C is a byte). */
const FORWARDED: [NodeJS.Signals, TerminalSignal][] = [
  ['SIGINT', 'INT'],
  ['SIGTERM', 'TERM'],
  ['SIGHUP', 'HUP'],
  ['SIGQUIT', 'QUIT'],
]

/** Wires the terminal to stdin, stdout and the signals; returns what undoes it. */
function attach(ctx: CommandContext, terminal: Terminal, opts: { tty: boolean; stdin: boolean }): () => void {
  const { stdin, stdout, stderr } = ctx
  terminal.onData((data, stream) => (stream === 'stderr' ? stderr : stdout).write(data))
  const undo: (() => void)[] = []
  const on = (signal: NodeJS.Signals, handler: () => void) => {
    process.on(signal, handler)
    undo.push(() => process.off(signal, handler))
  }
  for (const [signal, name] of FORWARDED) on(signal, () => terminal.signal(name))
  if (opts.tty) {
    stdin.setRawMode(true)
    undo.push(() => stdin.setRawMode(false))
    on('SIGWINCH', () => terminal.resize(stdout.columns, stdout.rows))
  }
  if (opts.stdin) {
    const input = (chunk: Buffer) => terminal.write(new Uint8Array(chunk))
    stdin.on('data', input)
    undo.push(() => {
      stdin.off('data', input)
      stdin.pause()
    })
  }
  return () => {
    for (const step of undo.reverse()) step()
  }
}

async function execIn(ctx: CommandContext, positionals: string[], values: Record<string, unknown>) {
  if (positionals.length < 2) throw new UsageError('exec takes a server, a container and the command')
  const [server, container, ...cmd] = positionals as [string, string, ...string[]]
  const tty = values.tty === true
  if (tty && !(ctx.stdin.isTTY && ctx.stdout.isTTY)) {
    throw new UsageError('-t needs a terminal on stdin and stdout (leave it out in scripts)')
  }
  const client = await ctx.client()
  const sid = await serverId(client, server)
  const terminal = await openTerminal(client, `/servers/${sid}/containers/${container}/exec`, {
    query: {
      ...(cmd.length > 0 ? { cmd: JSON.stringify(cmd) } : {}),
      tty,
      ...(tty ? { cols: ctx.stdout.columns, rows: ctx.stdout.rows } : {}),
      user: typeof values.user === 'string' ? values.user : undefined,
      workdir: typeof values.workdir === 'string' ? values.workdir : undefined,
      env: Array.isArray(values.env) ? (values.env as string[]) : undefined,
    },
    WebSocket: WebSocket as unknown as WebSocketClass,
  })
  const detach = attach(ctx, terminal, { tty, stdin: tty || values.interactive === true })
  try {
    return (await terminal.exit) as ExitCode
  } finally {
    detach()
  }
}

const options: Command['options'] = {
  interactive: { type: 'boolean', short: 'i', description: 'send stdin to the process' },
  tty: { type: 'boolean', short: 't', description: 'a terminal: raw mode, its size and resizes' },
  user: { type: 'string', short: 'u', description: 'the user to run as' },
  workdir: { type: 'string', short: 'w', description: 'the working directory in the container' },
  env: {
    type: 'string',
    short: 'e',
    multiple: true,
    description: 'KEY=value for the process (repeat for more)',
  },
}

const examples = [
  'berth exec -it local web',
  'berth exec -it local web -- sh -c "stty size"',
  'berth exec local web -- ls -la /app',
  'echo hello | berth exec -i local web -- cat',
]

const exec: Command = {
  name: 'exec',
  summary: 'Run a command in a container (a shell by default) and exit with its exit code',
  usage: 'SERVER CONTAINER [-- CMD...]',
  examples,
  options,
  run: (ctx, { positionals, values }) => execIn(ctx, positionals, values),
}

export const commands = [
  exec,
  {
    ...exec,
    name: 'containers exec',
    examples: examples.map((e) => e.replace('berth exec', 'berth containers exec')),
  },
]
