import { type BerthClient, follow, unwrap } from '@berth/client'
import {
  type Command,
  type CommandContext,
  EXIT,
  type ExitCode,
  type OptionSpec,
  UsageError,
} from '../command.ts'
import { printJsonLine } from '../live.ts'
import { printJson } from '../output.ts'
import { findApp, serverId } from '../refs.ts'

// Container logs, printed or followed: `containers logs SERVER CONTAINER` and `logs APP` (the
// app's running containers). Lines of a container's stderr go to stderr, the rest to stdout.

interface Entry {
  stream: 'stdout' | 'stderr'
  line: string
  ts?: string
}

const OPTIONS: Record<string, OptionSpec> = {
  follow: { type: 'boolean', short: 'f', description: 'keep printing new lines until Ctrl-C (exit 130)' },
  tail: {
    type: 'string',
    short: 'n',
    description: 'how many of the last lines to start with (default 100, or all)',
  },
  since: { type: 'string', description: 'lines since this time (unix seconds)' },
  timestamps: { type: 'boolean', short: 't', description: "prefix each line with Docker's timestamp" },
}

function logsQuery(values: Record<string, unknown>) {
  const tail = values.tail
  if (tail !== undefined && tail !== 'all' && !/^\d+$/.test(String(tail)))
    throw new UsageError('--tail takes a number of lines, or all')
  if (values.since !== undefined && !/^\d+$/.test(String(values.since)))
    throw new UsageError('--since takes unix seconds')
  return {
    ...(tail !== undefined ? { tail: String(tail) } : {}),
    ...(values.since !== undefined ? { since: String(values.since) } : {}),
    ...(values.timestamps ? { timestamps: 'true' } : {}),
  }
}

/** One container as the logs of a command see it: where it is, and a prefix for its lines. */
interface Source {
  serverId: string
  container: string
  prefix: string
}

function write(ctx: CommandContext, source: Source, entry: Entry): void {
  if (ctx.json) {
    printJsonLine(ctx, source.prefix ? { container: source.container, ...entry } : entry)
    return
  }
  const out = entry.stream === 'stderr' ? ctx.stderr : ctx.stdout
  out.write(`${source.prefix}${entry.ts ? `${entry.ts} ` : ''}${entry.line}\n`)
}

/** Follows every source at once until each ends (its container stopped) or Ctrl-C. */
async function followAll(
  ctx: CommandContext,
  client: BerthClient,
  sources: Source[],
  query: Record<string, string>,
): Promise<ExitCode> {
  await Promise.all(
    sources.map(async (source) => {
      const path = `/servers/${source.serverId}/containers/${source.container}/logs`
      const stream = follow(client, path, { query: { ...query, follow: true }, signal: ctx.signal })
      for await (const event of stream) {
        if (event.event === 'stdout' || event.event === 'stderr') write(ctx, source, JSON.parse(event.data))
      }
    }),
  )
  return ctx.signal.aborted ? EXIT.interrupted : EXIT.ok
}

/** The lines so far of every source: one JSON document under --json. */
async function printAll(
  ctx: CommandContext,
  client: BerthClient,
  sources: Source[],
  query: Record<string, string>,
) {
  const all = await Promise.all(
    sources.map(async (source) => {
      // The route answers JSON here and SSE with follow=true, so its type is both.
      const body = await unwrap(
        client.api.servers[':sid'].containers[':cid'].logs.$get({
          param: { sid: source.serverId, cid: source.container },
          query,
        }),
      )
      return { source, logs: (body as unknown as { logs: Entry[] }).logs }
    }),
  )
  if (ctx.json) {
    const single = all.length === 1 && !all[0]!.source.prefix
    return printJson(
      ctx,
      single
        ? { logs: all[0]!.logs }
        : {
            logs: all.flatMap(({ source, logs }) => logs.map((l) => ({ container: source.container, ...l }))),
          },
    )
  }
  for (const { source, logs } of all) for (const entry of logs) write(ctx, source, entry)
}

async function show(
  ctx: CommandContext,
  client: BerthClient,
  sources: Source[],
  values: Record<string, unknown>,
) {
  const query = logsQuery(values)
  if (values.follow) return followAll(ctx, client, sources, query)
  await printAll(ctx, client, sources, query)
  return EXIT.ok
}

const containerLogs: Command = {
  name: 'containers logs',
  summary: "Print or follow a container's log",
  usage: 'SERVER CONTAINER',
  examples: [
    'berth containers logs local web',
    'berth containers logs local web -f --tail 10',
    'berth containers logs local 3f2a --json',
  ],
  options: OPTIONS,
  async run(ctx, { positionals, values }) {
    if (positionals.length !== 2) throw new UsageError('containers logs takes a server and a container')
    const client = await ctx.client()
    const sid = await serverId(client, positionals[0]!)
    return show(ctx, client, [{ serverId: sid, container: positionals[1]!, prefix: '' }], values)
  },
}

const appLogs: Command = {
  name: 'logs',
  summary: "Print or follow the log of an app's running containers",
  usage: 'APP',
  examples: ['berth logs web', 'berth logs web -f', 'berth logs web --tail all --json'],
  options: OPTIONS,
  async run(ctx, { positionals, values }) {
    if (positionals.length !== 1) throw new UsageError('logs takes one app')
    const client = await ctx.client()
    const app = await findApp(client, positionals[0]!)
    const own = await runningContainers(client, app)
    if (own.length === 0) {
      ctx.stderr.write(`berth: ${app.name} has no running containers\n`)
      return EXIT.failed
    }
    const sources = own.map((c) => ({
      serverId: app.server_id,
      container: c.id,
      prefix: own.length > 1 ? `${c.name} | ` : '',
    }))
    return show(ctx, client, sources, values)
  },
}

/**
 * The running containers of the app's current deployment, as the API knows them by their labels
 * (its stats list them, no samples asked for); their names, for the lines' prefix, when there are several.
 */
async function runningContainers(client: BerthClient, app: Awaited<ReturnType<typeof findApp>>) {
  const current = app.current_deployment_id
  if (!current) return []
  const { stats } = await unwrap(
    client.api.apps[':id'].stats.$get({
      param: { id: app.id },
      query: { since: String(Math.floor(Date.now() / 1000)) },
    }),
  )
  const ids = stats.filter((s) => s.deployment_id === current).map((s) => s.container_id)
  return Promise.all(
    ids.map(async (cid) => {
      if (ids.length === 1) return { id: cid, name: '' }
      const { container } = await unwrap(
        client.api.servers[':sid'].containers[':cid'].$get({ param: { sid: app.server_id, cid }, query: {} }),
      )
      return { id: cid, name: container.name }
    }),
  )
}

export const commands = [containerLogs, appLogs]
