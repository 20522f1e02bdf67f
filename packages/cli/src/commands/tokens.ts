import { unwrap } from '@berth/client'
import type { Scope } from '@berth/shared'
import { integer, option, options, positionals } from '../args.ts'
import { type Command, UsageError } from '../command.ts'
import { paint, printTable, show } from '../output.ts'
import { serverId } from '../refs.ts'

// The API's list, not imported: @berth/shared would bring zod's schemas into the CLI's start-up.
const SCOPES = ['read', 'write', 'admin', 'docker'] as const satisfies readonly Scope[]

const ls: Command = {
  name: 'tokens ls',
  summary: 'List your API tokens (their values are shown once, when made)',
  usage: '',
  examples: ['berth tokens ls', 'berth tokens ls --json'],
  options: {},
  async run(ctx, args) {
    positionals(args, [])
    const client = await ctx.client()
    const page = await unwrap(client.api.tokens.$get({ query: { limit: '200' } }))
    show(ctx, page, () =>
      printTable(
        ctx,
        page.tokens,
        [
          ['name', (t) => t.name],
          ['id', (t) => t.id],
          ['scopes', (t) => t.scopes],
          ['docker on', (t) => (t.docker_servers.length > 0 ? t.docker_servers : null)],
          ['prefix', (t) => t.prefix],
          ['expires', (t) => t.expires_at ?? 'never'],
          ['last used', (t) => t.last_used_at ?? 'never'],
        ],
        'no API tokens: berth tokens create NAME',
      ),
    )
  },
}

const create: Command = {
  name: 'tokens create',
  summary: 'Make an API token for CI or scripts; its value is printed once',
  usage: 'NAME',
  examples: [
    'berth tokens create ci --scope read --scope write',
    'berth tokens create nightly --expires-in-days 30 --json',
    'berth tokens create compose --scope read --scope docker --server web-1',
  ],
  options: {
    scope: {
      type: 'string',
      multiple: true,
      description: 'read, write or admin (default read); docker opens Docker on the --server ones',
    },
    server: {
      type: 'string',
      multiple: true,
      description: 'with --scope docker: a server (name or id) the token opens Docker on; repeatable',
    },
    'expires-in-days': { type: 'string', description: 'how long it is valid (default: until removed)' },
  },
  async run(ctx, args) {
    const [name] = positionals(args, ['NAME'])
    const scopes = options(args, 'scope')
    const wrong = scopes.find((s) => !(SCOPES as readonly string[]).includes(s))
    if (wrong) throw new UsageError(`--scope must be one of ${SCOPES.join(', ')}, not ${wrong}`)
    const servers = options(args, 'server')
    const docker = scopes.includes('docker')
    if (docker && servers.length === 0) throw new UsageError('--scope docker needs the --server it opens')
    if (!docker && servers.length > 0) throw new UsageError('--server goes with --scope docker')
    const days = option(args, 'expires-in-days')
    const client = await ctx.client()
    const json = {
      name: name!,
      ...(scopes.length > 0 ? { scopes: scopes as Scope[] } : {}),
      ...(docker ? { docker_servers: await Promise.all(servers.map((ref) => serverId(client, ref))) } : {}),
      ...(days ? { expires_in_days: integer(days, '--expires-in-days') } : {}),
    }
    const created = await unwrap(client.api.tokens.$post({ json }))
    show(ctx, created, () => {
      ctx.stdout.write(
        `Token ${paint(ctx, 'bold', created.token.name)} (${created.token.id}), shown only now:\n`,
      )
      ctx.stdout.write(`${created.token.value}\n`)
    })
  },
}

const rm: Command = {
  name: 'tokens rm',
  summary: 'Revoke an API token',
  usage: 'TOKEN_ID',
  examples: ['berth tokens rm tok_01j...'],
  options: {},
  async run(ctx, args) {
    const [id] = positionals(args, ['TOKEN_ID'])
    const client = await ctx.client()
    await unwrap(client.api.tokens[':id'].$delete({ param: { id: id! } }))
    show(ctx, { id, removed: true }, () => ctx.stdout.write(`Revoked token ${id}\n`))
  },
}

export const commands = [ls, create, rm]
