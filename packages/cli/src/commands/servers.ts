import { setTimeout as sleep } from 'node:timers/promises'
import { type BerthClient, unwrap } from '@berth/client'
import { option, positionals } from '../args.ts'
import type { Command, CommandContext } from '../command.ts'
import { bytes, paint, printFields, printTable, show } from '../output.ts'
import { serverId } from '../refs.ts'

/** How often `servers add --wait` asks whether the agent has connected. */
const WAIT_EVERY_MS = 1000

const ls: Command = {
  name: 'servers ls',
  summary: 'List the servers and whether their agents are online',
  usage: '',
  examples: ['berth servers ls', 'berth servers ls --json'],
  options: {},
  async run(ctx) {
    const client = await ctx.client()
    const page = await unwrap(client.api.servers.$get({ query: { limit: '200' } }))
    show(ctx, page, () =>
      printTable(
        ctx,
        page.servers,
        [
          ['name', (s) => s.name],
          ['id', (s) => s.id],
          ['status', (s) => paint(ctx, s.status === 'online' ? 'green' : 'yellow', s.status)],
          ['host', (s) => s.agent.hostname],
          ['agent', (s) => s.agent.version],
          ['docker', (s) => s.agent.docker_version],
        ],
        'no servers yet: berth servers add NAME',
      ),
    )
  },
}

async function waitOnline(ctx: CommandContext, client: BerthClient, id: string) {
  for (;;) {
    const { server } = await unwrap(client.api.servers[':id'].$get({ param: { id } }))
    if (server.status === 'online') return server
    await sleep(WAIT_EVERY_MS, undefined, { signal: ctx.signal })
  }
}

const add: Command = {
  name: 'servers add',
  summary: 'Add a server and print the commands that start its agent',
  usage: 'NAME',
  examples: ['berth servers add web-1', 'berth servers add web-1 --wait', 'berth servers add web-1 --json'],
  options: {
    description: { type: 'string', description: 'a note shown with the server' },
    wait: { type: 'boolean', description: "wait until the server's agent is online" },
  },
  async run(ctx, args) {
    const [name] = positionals(args, ['NAME'])
    const description = option(args, 'description')
    const client = await ctx.client()
    const created = await unwrap(client.api.servers.$post({ json: { name: name!, description } }))
    const { server, enrollment } = created
    if (!ctx.json) {
      const out = ctx.stdout
      out.write(`Server ${paint(ctx, 'bold', server.name)} added (${server.id}).\n`)
      out.write(
        `Start its agent on the host, with the enrollment token valid until ${enrollment.expires_at}:\n\n`,
      )
      for (const [how, command] of Object.entries(enrollment.commands)) {
        out.write(`${paint(ctx, 'dim', `# ${how}`)}\n${command}\n\n`)
      }
    }
    if (!args.values.wait) return show(ctx, created, () => {})
    if (!ctx.json) ctx.stderr.write('Waiting for the agent to connect (Ctrl-C stops waiting)...\n')
    const online = await waitOnline(ctx, client, server.id)
    show(ctx, { ...created, server: online }, () =>
      ctx.stdout.write(`Server ${online.name} is online (${online.agent.hostname ?? 'host'}).\n`),
    )
  },
}

const rm: Command = {
  name: 'servers rm',
  summary: 'Remove a server (its agent is disconnected; its containers stay)',
  usage: 'SERVER',
  examples: ['berth servers rm web-1', 'berth servers rm srv_01j...'],
  options: {},
  async run(ctx, args) {
    const [ref] = positionals(args, ['SERVER'])
    const client = await ctx.client()
    const id = await serverId(client, ref!)
    await unwrap(client.api.servers[':id'].$delete({ param: { id } }))
    show(ctx, { id, removed: true }, () => ctx.stdout.write(`Removed server ${ref}\n`))
  },
}

const validate: Command = {
  name: 'servers validate',
  summary: "Check a server's agent and Docker Engine answer, with the round-trip times",
  usage: 'SERVER',
  examples: ['berth servers validate web-1', 'berth servers validate web-1 --json'],
  options: {},
  async run(ctx, args) {
    const [ref] = positionals(args, ['SERVER'])
    const client = await ctx.client()
    const id = await serverId(client, ref!)
    const answer = await unwrap(client.api.servers[':id'].validate.$post({ param: { id } }))
    const { validation } = answer
    show(ctx, answer, () =>
      printFields(ctx, [
        ['ok', validation.ok],
        ['round trip', `${validation.round_trip_ms} ms`],
        ['docker', `${validation.docker_ms} ms`],
      ]),
    )
  },
}

const resources: Command = {
  name: 'servers resources',
  summary: 'Show what a server has and uses: CPUs, load, memory, disk, containers',
  usage: 'SERVER',
  examples: ['berth servers resources web-1', 'berth servers resources web-1 --json'],
  options: {},
  async run(ctx, args) {
    const [ref] = positionals(args, ['SERVER'])
    const client = await ctx.client()
    const id = await serverId(client, ref!)
    const answer = await unwrap(client.api.servers[':id'].resources.$get({ param: { id } }))
    const r = answer.resources
    show(ctx, answer, () =>
      printFields(ctx, [
        ['cpus', r.cpus],
        ['load', r.load.map((l) => l.toFixed(2)).join(' ')],
        ['memory', `${bytes(r.memory.used)} used of ${bytes(r.memory.total)}`],
        ['disk', `${bytes(r.disk.used)} used of ${bytes(r.disk.total)} (${r.disk.path})`],
        ['uptime', `${Math.round(r.uptime_s / 3600)} h`],
        ['containers', `${r.docker.running} running of ${r.docker.containers}`],
        ['images', r.docker.images],
      ]),
    )
  },
}

export const commands = [ls, add, rm, validate, resources]
