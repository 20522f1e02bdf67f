import { type BerthClient, unwrap } from '@berth/client'
import { choice, integer, option, options, pairs, positionals, queryFlag } from '../args.ts'
import { type Command, type ParsedArgs, UsageError } from '../command.ts'
import { bytes, paint, printFields, printTable, show } from '../output.ts'
import { serverId } from '../refs.ts'

/** SERVER and CONTAINER of a command about one container: the server resolved to its id. */
async function target(client: BerthClient, args: ParsedArgs) {
  const [server, container] = positionals(args, ['SERVER', 'CONTAINER'])
  return { sid: await serverId(client, server!), cid: container! }
}

const containersOf = (client: BerthClient) => client.api.servers[':sid'].containers
const oneOf = (client: BerthClient) => containersOf(client)[':cid']

const portText = (p: { host: number | null; container: number; protocol: string }) =>
  `${p.host ?? '-'}->${p.container}/${p.protocol}`

const statusColor = (status: string) =>
  status === 'running' ? 'green' : status === 'exited' ? 'red' : 'yellow'

const ls: Command = {
  name: 'containers ls',
  summary: "List a server's containers",
  usage: 'SERVER',
  examples: [
    'berth containers ls web-1',
    'berth containers ls web-1 --status running --tag api',
    'berth containers ls web-1 --json',
  ],
  options: {
    status: { type: 'string', description: 'only these states, e.g. running or running,exited' },
    tag: { type: 'string', description: 'only containers with this tag' },
    name: { type: 'string', description: 'only containers whose name holds this' },
  },
  async run(ctx, args) {
    const [server] = positionals(args, ['SERVER'])
    const client = await ctx.client()
    const sid = await serverId(client, server!)
    const query = {
      limit: '200',
      status: option(args, 'status'),
      tag: option(args, 'tag'),
      name: option(args, 'name'),
    }
    const page = await unwrap(containersOf(client).$get({ param: { sid }, query }))
    show(ctx, page, () =>
      printTable(
        ctx,
        page.containers,
        [
          ['name', (c) => c.name],
          ['id', (c) => c.id],
          ['image', (c) => c.image],
          ['status', (c) => paint(ctx, statusColor(c.status), c.status)],
          ['ports', (c) => c.ports.map(portText)],
          ['tags', (c) => c.tags],
        ],
        'no containers on this server',
      ),
    )
  },
}

/** `--port C[:H][/udp]`: the container's port, the host's (chosen by Berth when left out). */
function portOf(spec: string) {
  const match = /^(\d+)(?::(\d+))?(?:\/(tcp|udp))?$/.exec(spec)
  if (!match) throw new UsageError(`--port must be CONTAINER[:HOST][/udp], not ${spec}`)
  const [, container, host, protocol] = match
  return {
    container: integer(container!, '--port'),
    ...(host ? { host: integer(host, '--port') } : {}),
    protocol: (protocol ?? 'tcp') as 'tcp' | 'udp',
  }
}

/** `--volume SOURCE:TARGET[:ro]`: a named volume (or a host path, for admins) mounted at TARGET. */
function volumeOf(spec: string) {
  const match = /^([^:]+):(\/[^:]*)(:ro)?$/.exec(spec)
  if (!match) throw new UsageError(`--volume must be SOURCE:/TARGET[:ro], not ${spec}`)
  return { source: match[1]!, target: match[2]!, readonly: match[3] !== undefined }
}

const RESTART = ['no', 'always', 'unless-stopped', 'on-failure'] as const

const run: Command = {
  name: 'containers run',
  summary: 'Create and start a container on a server',
  usage: 'SERVER IMAGE [CMD...]',
  examples: [
    'berth containers run web-1 nginx:alpine --name web --port 80',
    'berth containers run web-1 redis:7 --name cache --port 6379:6379 --volume cache-data:/data --restart always',
    'berth containers run web-1 alpine:3 --name job --env MODE=once -- sh -c "echo hello"',
  ],
  options: {
    name: { type: 'string', description: "the container's name" },
    env: { type: 'string', multiple: true, description: 'an environment variable, KEY=VALUE' },
    port: { type: 'string', multiple: true, description: 'publish CONTAINER[:HOST][/udp]' },
    volume: { type: 'string', multiple: true, description: 'mount SOURCE:/TARGET[:ro]' },
    tag: { type: 'string', multiple: true, description: 'a tag to find it by' },
    network: { type: 'string', description: 'a Docker network to join' },
    restart: { type: 'string', description: 'no, always, unless-stopped or on-failure' },
    'no-start': { type: 'boolean', description: 'create it without starting it' },
  },
  async run(ctx, args) {
    const [server, image, ...cmd] = positionals(args, ['SERVER', 'IMAGE', '[CMD...]'])
    const body = {
      image: image!,
      name: option(args, 'name'),
      ...(cmd.length > 0 ? { cmd } : {}),
      env: pairs(options(args, 'env'), '--env'),
      ports: options(args, 'port').map(portOf),
      volumes: options(args, 'volume').map(volumeOf),
      tags: options(args, 'tag'),
      network: option(args, 'network'),
      restart: choice(args, 'restart', RESTART),
      start: args.values['no-start'] !== true,
    }
    const client = await ctx.client()
    const sid = await serverId(client, server!)
    const created = await unwrap(containersOf(client).$post({ param: { sid }, json: body }))
    const { container } = created
    show(ctx, created, () => {
      ctx.stdout.write(
        `Container ${paint(ctx, 'bold', container.name)} ${container.status} (${container.id})\n`,
      )
      for (const p of container.ports)
        ctx.stdout.write(`  port ${p.container}/${p.protocol} on host ${p.host}\n`)
    })
  },
}

const inspect: Command = {
  name: 'containers inspect',
  summary: "Show a container's detail: image, state, env, mounts, limits",
  usage: 'SERVER CONTAINER',
  examples: ['berth containers inspect web-1 web', 'berth containers inspect web-1 web --reveal --json'],
  options: { reveal: { type: 'boolean', description: 'show secret-looking env values instead of ********' } },
  async run(ctx, args) {
    const client = await ctx.client()
    const { sid, cid } = await target(client, args)
    const reveal = queryFlag(args, 'reveal')
    const answer = await unwrap(oneOf(client).$get({ param: { sid, cid }, query: { reveal } }))
    const c = answer.container
    // Without its agent, the API answers with the stored row only (stale), without the live detail.
    const live: [string, unknown][] =
      'env' in c
        ? [
            ['cmd', c.cmd],
            ['mounts', c.mounts.map((m) => `${m.source}:${m.target}`)],
            ['env', Object.entries(c.env).map(([k, v]) => `${k}=${v}`)],
            ['restart', c.restart],
          ]
        : [['stale', 'the agent is offline: the last state known']]
    show(ctx, answer, () =>
      printFields(ctx, [
        ['name', c.name],
        ['id', c.id],
        ['image', c.image],
        ['status', paint(ctx, statusColor(c.status), c.status)],
        ['health', c.health],
        ['started', c.started_at],
        ['ports', c.ports.map(portText)],
        ...live,
        ['tags', c.tags],
      ]),
    )
  },
}

const stats: Command = {
  name: 'containers stats',
  summary: "Show a container's CPU, memory, network and disk use now",
  usage: 'SERVER CONTAINER',
  examples: ['berth containers stats web-1 web', 'berth containers stats web-1 web --json'],
  options: {},
  async run(ctx, args) {
    const client = await ctx.client()
    const { sid, cid } = await target(client, args)
    const answer = await unwrap(oneOf(client).stats.$get({ param: { sid, cid } }))
    const s = answer.stats
    show(ctx, answer, () =>
      printFields(ctx, [
        ['cpu', `${s.cpu.percent.toFixed(1)} %`],
        ['memory', `${bytes(s.memory.used)} of ${bytes(s.memory.limit)}`],
        ['network', `${bytes(s.network.rx)} in, ${bytes(s.network.tx)} out`],
        ['block io', `${bytes(s.block_io.read)} read, ${bytes(s.block_io.write)} written`],
        ['pids', s.pids],
      ]),
    )
  },
}

type Param = { sid: string; cid: string }
const ACTIONS = {
  start: (client: BerthClient, param: Param) => oneOf(client).start.$post({ param }),
  stop: (client: BerthClient, param: Param, json: Stop) => oneOf(client).stop.$post({ param, json }),
  restart: (client: BerthClient, param: Param, json: Stop) => oneOf(client).restart.$post({ param, json }),
}
type Stop = { timeout?: number }

/** `--timeout`: seconds Docker waits for the container to stop before it kills it. */
const TIMEOUT = {
  type: 'string',
  description: 'seconds to wait for it to stop before killing it (default 10)',
} as const
type Action = keyof typeof ACTIONS

/** start, stop and restart: one call each, answering with the container in its new state. */
function action(verb: Action, summary: string, done: string): Command {
  return {
    name: `containers ${verb}`,
    summary,
    usage: 'SERVER CONTAINER',
    examples: [
      `berth containers ${verb} web-1 web`,
      `berth containers ${verb} web-1 ctr_01j...${verb === 'start' ? '' : ' --timeout 30'} --json`,
    ],
    options: verb === 'start' ? {} : { timeout: TIMEOUT },
    async run(ctx, args) {
      const client = await ctx.client()
      const { sid, cid } = await target(client, args)
      const timeout = option(args, 'timeout')
      const stop = timeout === undefined ? {} : { timeout: integer(timeout, '--timeout') }
      const answer = await unwrap(ACTIONS[verb](client, { sid, cid }, stop))
      show(ctx, answer, () =>
        ctx.stdout.write(`${done} ${answer.container.name} (${answer.container.status})\n`),
      )
    },
  }
}

const rm: Command = {
  name: 'containers rm',
  summary: 'Remove a container',
  usage: 'SERVER CONTAINER',
  examples: ['berth containers rm web-1 job', 'berth containers rm web-1 web --force --volumes'],
  options: {
    force: { type: 'boolean', description: 'remove it even while it runs' },
    volumes: { type: 'boolean', description: 'remove its anonymous volumes too' },
  },
  async run(ctx, args) {
    const client = await ctx.client()
    const { sid, cid } = await target(client, args)
    const query = {
      force: queryFlag(args, 'force'),
      volumes: queryFlag(args, 'volumes'),
    }
    await unwrap(oneOf(client).$delete({ param: { sid, cid }, query }))
    show(ctx, { server_id: sid, container: cid, removed: true }, () =>
      ctx.stdout.write(`Removed container ${cid}\n`),
    )
  },
}

export const commands = [
  ls,
  run,
  inspect,
  stats,
  action('start', 'Start a stopped container', 'Started'),
  action('stop', 'Stop a running container', 'Stopped'),
  action('restart', 'Restart a container', 'Restarted'),
  rm,
]
