import { type BerthClient, unwrap } from '@berth/client'
import type { Role } from '@berth/shared'
import { choice, option, positionals } from '../args.ts'
import type { Command } from '../command.ts'
import { paint, printTable, show } from '../output.ts'
import { password } from '../prompt.ts'
import { notFound } from '../refs.ts'

// The API's list, not imported: @berth/shared would bring zod's schemas into the CLI's start-up.
const ROLES = ['admin', 'member', 'viewer'] as const satisfies readonly Role[]

const firstPage = (client: BerthClient) => unwrap(client.api.users.$get({ query: { limit: '200' } }))

const ls: Command = {
  name: 'users ls',
  summary: 'List the users (admins only)',
  usage: '',
  examples: ['berth users ls', 'berth users ls --json'],
  options: {},
  async run(ctx, args) {
    positionals(args, [])
    const page = await firstPage(await ctx.client())
    show(ctx, page, () =>
      printTable(ctx, page.users, [
        ['email', (u) => u.email],
        ['id', (u) => u.id],
        ['name', (u) => u.name],
        ['role', (u) => u.role],
        ['disabled', (u) => (u.disabled ? 'yes' : '')],
      ]),
    )
  },
}

const create: Command = {
  name: 'users create',
  summary: 'Add a user (admins only); the password is asked, or read from stdin',
  usage: 'EMAIL',
  examples: [
    'berth users create ana@example.com --role member',
    'echo "$PASSWORD" | berth users create ci@example.com --role viewer --password-stdin --json',
  ],
  options: {
    name: { type: 'string', description: 'the name shown for the user' },
    role: { type: 'string', description: 'admin, member (the default) or viewer' },
    'password-stdin': { type: 'boolean', description: 'read the password from stdin, for scripts' },
  },
  async run(ctx, args) {
    const [email] = positionals(args, ['EMAIL'])
    const json = {
      email: email!,
      name: option(args, 'name'),
      role: choice(args, 'role', ROLES),
      password: await password(ctx, args),
    }
    const client = await ctx.client()
    const created = await unwrap(client.api.users.$post({ json }))
    show(ctx, created, () =>
      ctx.stdout.write(
        `User ${paint(ctx, 'bold', created.user.email)} added (${created.user.id}, ${created.user.role})\n`,
      ),
    )
  },
}

const rm: Command = {
  name: 'users rm',
  summary: 'Remove a user (admins only)',
  usage: 'USER',
  examples: ['berth users rm ana@example.com', 'berth users rm usr_01j...'],
  options: {},
  async run(ctx, args) {
    const [ref] = positionals(args, ['USER'])
    const client = await ctx.client()
    let id = ref!
    if (!id.startsWith('usr_')) {
      const found = (await firstPage(client)).users.find((u) => u.email === ref!.toLowerCase())
      if (!found) throw notFound(`no user ${ref}`)
      id = found.id
    }
    await unwrap(client.api.users[':id'].$delete({ param: { id } }))
    show(ctx, { id, removed: true }, () => ctx.stdout.write(`Removed user ${ref}\n`))
  },
}

export const commands = [ls, create, rm]
