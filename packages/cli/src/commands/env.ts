import { unwrap } from '@berth/client'
import { pairs, positionals, queryFlag, required } from '../args.ts'
import { type Command, UsageError } from '../command.ts'
import { type Out, paint, printTable, show } from '../output.ts'
import { appId } from '../refs.ts'

const APP = { app: { type: 'string', description: 'the app (name or id)' } } as const

type EnvList = { env: { key: string; value: string | null; updated_at: string }[] }

function printEnv(ctx: Out, list: EnvList) {
  show(ctx, list, () =>
    printTable(
      ctx,
      list.env,
      [
        ['key', (e) => e.key],
        ['value', (e) => e.value ?? paint(ctx, 'dim', '(hidden: --reveal)')],
        ['updated', (e) => e.updated_at],
      ],
      'no variables set',
    ),
  )
}

const ls: Command = {
  name: 'env ls',
  summary: "List an app's environment variables (values with --reveal)",
  usage: '',
  examples: ['berth env ls --app shop', 'berth env ls --app shop --reveal --json'],
  options: { ...APP, reveal: { type: 'boolean', description: 'show the values too' } },
  async run(ctx, args) {
    positionals(args, [])
    const client = await ctx.client()
    const id = await appId(client, required(args, 'app'))
    printEnv(
      ctx,
      await unwrap(
        client.api.apps[':id'].env.$get({ param: { id }, query: { reveal: queryFlag(args, 'reveal') } }),
      ),
    )
  },
}

const set: Command = {
  name: 'env set',
  summary: "Set an app's environment variables (used from its next deploy)",
  usage: 'KEY=VALUE...',
  examples: ['berth env set --app shop NODE_ENV=production', 'berth env set --app shop A=1 B=2 --json'],
  options: APP,
  async run(ctx, args) {
    const items = positionals(args, ['KEY=VALUE', '[KEY=VALUE...]'])
    const client = await ctx.client()
    const id = await appId(client, required(args, 'app'))
    printEnv(
      ctx,
      await unwrap(
        client.api.apps[':id'].env.$put({ param: { id }, json: { env: pairs(items, 'a variable') } }),
      ),
    )
  },
}

const unset: Command = {
  name: 'env unset',
  summary: 'Remove environment variables from an app (from its next deploy)',
  usage: 'KEY...',
  examples: ['berth env unset --app shop DEBUG', 'berth env unset --app shop A B --json'],
  options: APP,
  async run(ctx, args) {
    const keys = positionals(args, ['KEY', '[KEY...]'])
    if (keys.some((k) => k.includes('='))) throw new UsageError('env unset takes names only, not KEY=VALUE')
    const client = await ctx.client()
    const id = await appId(client, required(args, 'app'))
    const env = Object.fromEntries(keys.map((k) => [k, null]))
    printEnv(ctx, await unwrap(client.api.apps[':id'].env.$put({ param: { id }, json: { env } })))
  },
}

export const commands = [ls, set, unset]
