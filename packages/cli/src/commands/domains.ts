import { type BerthClient, unwrap } from '@berth/client'
import { choice, option, positionals, required } from '../args.ts'
import type { Command } from '../command.ts'
import { paint, printTable, show } from '../output.ts'
import { appId, notFound } from '../refs.ts'

const APP = { app: { type: 'string', description: 'the app (name or id)' } } as const
const HTTPS = ['auto', 'internal', 'off'] as const

const domainsOf = (client: BerthClient, id: string) =>
  unwrap(client.api.apps[':id'].domains.$get({ param: { id } }))

const ls: Command = {
  name: 'domains ls',
  summary: "List an app's domains with their certificates",
  usage: '',
  examples: ['berth domains ls --app shop', 'berth domains ls --app shop --json'],
  options: APP,
  async run(ctx, args) {
    positionals(args, [])
    const client = await ctx.client()
    const list = await domainsOf(client, await appId(client, required(args, 'app')))
    show(ctx, list, () =>
      printTable(
        ctx,
        list.domains,
        [
          ['hostname', (d) => d.hostname],
          ['id', (d) => d.id],
          ['https', (d) => d.https],
          ['certificate', (d) => d.certificate?.status],
          ['redirect', (d) => d.redirect_to],
          ['automatic', (d) => (d.automatic ? 'yes' : '')],
        ],
        'no domains: berth domains add HOSTNAME --app APP',
      ),
    )
  },
}

const add: Command = {
  name: 'domains add',
  summary: 'Route a hostname to an app, with a certificate',
  usage: 'HOSTNAME',
  examples: [
    'berth domains add shop.example.com --app shop',
    'berth domains add www.shop.example.com --app shop --redirect-to shop.example.com',
    'berth domains add shop.internal --app shop --https internal --json',
  ],
  options: {
    ...APP,
    https: { type: 'string', description: 'auto (ACME), internal (a local CA) or off' },
    'redirect-to': { type: 'string', description: "redirect its requests to another of the app's domains" },
    'no-redirect-http': {
      type: 'boolean',
      description: 'answer plain HTTP instead of redirecting it to HTTPS',
    },
  },
  async run(ctx, args) {
    const [hostname] = positionals(args, ['HOSTNAME'])
    const body = {
      hostname: hostname!,
      https: choice(args, 'https', HTTPS),
      redirect_to: option(args, 'redirect-to'),
      redirect_http: args.values['no-redirect-http'] !== true,
    }
    const client = await ctx.client()
    const id = await appId(client, required(args, 'app'))
    const created = await unwrap(client.api.apps[':id'].domains.$post({ param: { id }, json: body }))
    show(ctx, created, () =>
      ctx.stdout.write(
        `Domain ${paint(ctx, 'bold', created.domain.hostname)} added (${created.domain.id})\n`,
      ),
    )
  },
}

const rm: Command = {
  name: 'domains rm',
  summary: 'Stop routing a hostname to an app',
  usage: 'HOSTNAME',
  examples: ['berth domains rm shop.example.com --app shop', 'berth domains rm dom_01j... --app shop'],
  options: APP,
  async run(ctx, args) {
    const [ref] = positionals(args, ['HOSTNAME'])
    const client = await ctx.client()
    const id = await appId(client, required(args, 'app'))
    let did = ref!
    if (!did.startsWith('dom_')) {
      const found = (await domainsOf(client, id)).domains.find((d) => d.hostname === ref!.toLowerCase())
      if (!found) {
        throw notFound(`no domain ${ref} on this app`)
      }
      did = found.id
    }
    await unwrap(client.api.apps[':id'].domains[':did'].$delete({ param: { id, did } }))
    show(ctx, { id: did, removed: true }, () => ctx.stdout.write(`Removed domain ${ref}\n`))
  },
}

export const commands = [ls, add, rm]
