import { createInterface } from 'node:readline/promises'
import { type CommandContext, type ParsedArgs, UsageError } from './command.ts'

type Io = Pick<CommandContext, 'stdin' | 'stderr' | 'signal'>

/** Asks on the terminal (the question on stderr, so stdout stays the command's output). */
export async function ask(ctx: Io, question: string): Promise<string> {
  const rl = createInterface({ input: ctx.stdin, output: ctx.stderr, terminal: true })
  try {
    return (await rl.question(question, { signal: ctx.signal })).trim()
  } finally {
    rl.close()
  }
}

/** Asks for a secret on a TTY without echoing it; Ctrl-C gives up. */
export function askSecret(ctx: Io, question: string): Promise<string> {
  const { stdin, stderr } = ctx
  // Raw before the prompt shows: what is typed the moment it appears must not echo either.
  stdin.setRawMode(true)
  stderr.write(question)
  stdin.resume()
  stdin.setEncoding('utf8')
  return new Promise((resolve, reject) => {
    let secret = ''
    const done = (err?: Error) => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      stderr.write('\n')
      if (err) reject(err)
      else resolve(secret)
    }
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done()
        if (char === '\u0003') return done(new Error('cancelled'))
        if (char === '\u007f' || char === '\b') secret = secret.slice(0, -1)
        else secret += char
      }
    }
    stdin.on('data', onData)
  })
}

/** All of stdin as text, without the newline that ends it (`--password-stdin`). */
export async function readStdin(ctx: Pick<CommandContext, 'stdin'>): Promise<string> {
  let text = ''
  ctx.stdin.setEncoding('utf8')
  for await (const chunk of ctx.stdin) text += chunk
  return text.replace(/\r?\n$/, '')
}

/** A password from stdin (`--password-stdin`, for scripts) or asked on a TTY without echo. */
export async function password(ctx: Io, args: ParsedArgs): Promise<string> {
  if (args.values['password-stdin'] === true) return readStdin(ctx)
  if (ctx.stdin.isTTY) return askSecret(ctx, 'Password: ')
  throw new UsageError('not a terminal: give the password with --password-stdin')
}
