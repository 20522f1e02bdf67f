import { type BerthClient, unwrap } from '@berth/client'
import { option, positionals } from '../args.ts'
import { type Command, type CommandContext, type ParsedArgs, UsageError } from '../command.ts'
import { paint, printFields, show } from '../output.ts'
import { DEFAULT_PROFILE, readConfig, writeConfig } from '../profiles.ts'
import { ask, password } from '../prompt.ts'

const profileName = (values: Record<string, unknown>) =>
  typeof values.profile === 'string' ? values.profile : DEFAULT_PROFILE

/** Who a token is: the check a login makes before it saves anything. */
const me = (client: BerthClient) => unwrap(client.api.auth.me.$get())

/** A session token from an email and password: asked on a TTY, or given for scripts. */
async function passwordLogin(ctx: CommandContext, url: string, args: ParsedArgs) {
  const given = option(args, 'email')
  if (args.values['password-stdin'] === true && !given) throw new UsageError('--password-stdin needs --email')
  if (!given && !ctx.stdin.isTTY)
    throw new UsageError('not a terminal: give --token, or --email with --password-stdin')
  const email = given ?? (await ask(ctx, 'Email: '))
  const json = { email, password: await password(ctx, args) }
  const session = await unwrap(ctx.connect({ url }).api.auth.login.$post({ json }))
  return session.token
}

const login: Command = {
  name: 'login',
  summary: 'Log in to a Berth API and save it as a profile',
  usage: '[URL]',
  examples: [
    'berth login https://berth.example.com',
    'berth login https://berth.example.com --token brt_...',
    'echo "$PASSWORD" | berth login https://berth.example.com --email me@example.com --password-stdin',
    'berth login https://staging.example.com --profile staging',
  ],
  options: {
    token: { type: 'string', description: 'an API token to save instead of logging in with a password' },
    email: { type: 'string', description: "the account's email (asked on a terminal when not given)" },
    'password-stdin': { type: 'boolean', description: 'read the password from stdin, for scripts' },
  },
  async run(ctx, args) {
    const [given] = positionals(args, ['[URL]'])
    const name = profileName(args.values)
    const config = await readConfig(ctx.env)
    // The origin is what is kept: a URL pasted with the API's base path works too.
    const url = (given ?? config.profiles[name]?.url ?? ctx.env.BERTH_URL)?.replace(/(\/api\/v1)?\/*$/, '')
    if (!url) throw new UsageError('give the URL of the API, e.g. berth login https://berth.example.com')
    if (!/^https?:\/\//.test(url)) throw new UsageError(`give the URL with its scheme: https://${url}`)
    const token = option(args, 'token') ?? (await passwordLogin(ctx, url, args))
    const { user } = await me(ctx.connect({ url, token }))
    config.profiles[name] = { url, token }
    config.default ??= name
    const path = await writeConfig(ctx.env, config)
    show(ctx, { profile: name, url, user, config: path }, () =>
      ctx.stdout.write(`Logged in to ${url} as ${paint(ctx, 'bold', user.email)} (profile ${name})\n`),
    )
  },
}

const logout: Command = {
  name: 'logout',
  summary: "Forget a profile's URL and token",
  usage: '',
  examples: ['berth logout', 'berth logout --profile staging'],
  options: {},
  async run(ctx, { values }) {
    const config = await readConfig(ctx.env)
    const name = typeof values.profile === 'string' ? values.profile : (config.default ?? DEFAULT_PROFILE)
    const had = name in config.profiles
    delete config.profiles[name]
    if (config.default === name) config.default = Object.keys(config.profiles)[0]
    if (had) await writeConfig(ctx.env, config)
    show(ctx, { profile: name, removed: had }, () =>
      ctx.stdout.write(had ? `Logged out (profile ${name} removed)\n` : `No profile named ${name}\n`),
    )
  },
}

const whoami: Command = {
  name: 'whoami',
  summary: 'Show who the current profile or BERTH_TOKEN is',
  usage: '',
  examples: ['berth whoami', 'BERTH_URL=https://berth.example.com BERTH_TOKEN=brt_... berth whoami --json'],
  options: {},
  async run(ctx) {
    const client = await ctx.client()
    const answer = await me(client)
    show(ctx, answer, () =>
      printFields(ctx, [
        ['email', answer.user.email],
        ['name', answer.user.name],
        ['role', answer.user.role],
        ['via', 'token_id' in answer.auth ? `API token ${answer.auth.token_id}` : 'session'],
        ['api', client.origin],
      ]),
    )
  },
}

export const commands = [login, logout, whoami]
