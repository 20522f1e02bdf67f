import { unwrap } from '@berth/client'
import { integer, option, options, pairs, positionals, queryFlag, required } from '../args.ts'
import { type Command, type ParsedArgs, UsageError } from '../command.ts'
import { paint, printFields, printTable, show } from '../output.ts'
import { appId, serverId } from '../refs.ts'

type Source =
  | { type: 'image'; image: string }
  | { type: 'git'; url: string; branch?: string; dockerfile?: string }
  | { type: 'upload' }

/** Where an app's code comes from: exactly one of --image, --git or --upload. */
function sourceOf(args: ParsedArgs): Source {
  const image = option(args, 'image')
  const git = option(args, 'git')
  const upload = args.values.upload === true
  if ([image, git, upload || undefined].filter((s) => s !== undefined).length !== 1) {
    throw new UsageError('give one source: --image IMAGE, --git URL or --upload')
  }
  if (image) return { type: 'image', image }
  if (git)
    return { type: 'git', url: git, branch: option(args, 'branch'), dockerfile: option(args, 'dockerfile') }
  return { type: 'upload' }
}

const describeSource = (source: Source) =>
  source.type === 'image'
    ? source.image
    : source.type === 'git'
      ? `${source.url}#${source.branch ?? 'main'}`
      : 'uploaded tarball'

const ls: Command = {
  name: 'apps ls',
  summary: 'List the apps',
  usage: '',
  examples: ['berth apps ls', 'berth apps ls --server web-1 --json'],
  options: { server: { type: 'string', description: 'only the apps of this server' } },
  async run(ctx, args) {
    positionals(args, [])
    const client = await ctx.client()
    const server = option(args, 'server')
    const query = { limit: '200', server_id: server && (await serverId(client, server)) }
    const page = await unwrap(client.api.apps.$get({ query }))
    show(ctx, page, () =>
      printTable(
        ctx,
        page.apps,
        [
          ['name', (a) => a.name],
          ['id', (a) => a.id],
          ['status', (a) => a.status ?? 'not deployed'],
          ['source', (a) => describeSource(a.source)],
          ['port', (a) => a.host_port],
        ],
        'no apps yet: berth apps create NAME --server SERVER --image IMAGE',
      ),
    )
  },
}

const create: Command = {
  name: 'apps create',
  summary: 'Create an app on a server from an image, a git repository or uploads',
  usage: 'NAME',
  examples: [
    'berth apps create hello --server web-1 --image nginxdemos/hello --port 80',
    'berth apps create shop --server web-1 --git https://github.com/acme/shop.git --branch main',
    'berth apps create site --server web-1 --upload --env NODE_ENV=production',
  ],
  options: {
    server: { type: 'string', description: 'the server it runs on (name or id)' },
    image: { type: 'string', description: 'run this image' },
    git: { type: 'string', description: 'build this git repository' },
    branch: { type: 'string', description: 'the branch to build (with --git; default main)' },
    dockerfile: { type: 'string', description: 'the Dockerfile in the repository (with --git)' },
    upload: { type: 'boolean', description: 'build what `berth deploy --dir` uploads' },
    port: { type: 'string', description: 'the port the app listens on in its container (default 3000)' },
    env: { type: 'string', multiple: true, description: 'an environment variable, KEY=VALUE' },
  },
  async run(ctx, args) {
    const [name] = positionals(args, ['NAME'])
    const server = required(args, 'server')
    const port = option(args, 'port')
    const body = {
      name: name!,
      source: sourceOf(args),
      env: pairs(options(args, 'env'), '--env'),
      ...(port ? { port: integer(port, '--port') } : {}),
    }
    const client = await ctx.client()
    const created = await unwrap(
      client.api.apps.$post({ json: { ...body, server_id: await serverId(client, server) } }),
    )
    show(ctx, created, () =>
      ctx.stdout.write(
        `App ${paint(ctx, 'bold', created.app.name)} created (${created.app.id}); deploy it with berth deploy ${created.app.name}\n`,
      ),
    )
  },
}

const info: Command = {
  name: 'apps info',
  summary: "Show an app's settings and the state of its latest deployment",
  usage: 'APP',
  examples: ['berth apps info hello', 'berth apps info app_01j... --json'],
  options: {},
  async run(ctx, args) {
    const [ref] = positionals(args, ['APP'])
    const client = await ctx.client()
    const id = await appId(client, ref!)
    const answer = await unwrap(client.api.apps[':id'].$get({ param: { id } }))
    const a = answer.app
    show(ctx, answer, () =>
      printFields(ctx, [
        ['name', a.name],
        ['id', a.id],
        ['server', a.server_id],
        ['source', describeSource(a.source)],
        ['status', a.status ?? 'not deployed'],
        ['deployment', a.current_deployment_id],
        ['port', a.port],
        ['host port', a.host_port],
        ['instances', a.instances],
        ['env', a.env_keys],
        ['auto deploy', a.auto_deploy],
        ['created', a.created_at],
      ]),
    )
  },
}

const rm: Command = {
  name: 'apps rm',
  summary: 'Remove an app with its containers',
  usage: 'APP',
  examples: ['berth apps rm hello', 'berth apps rm hello --volumes'],
  options: {
    volumes: { type: 'boolean', description: "remove the app's persistent volumes too" },
    force: { type: 'boolean', description: 'remove it even while a deployment runs' },
  },
  async run(ctx, args) {
    const [ref] = positionals(args, ['APP'])
    const client = await ctx.client()
    const id = await appId(client, ref!)
    const query = {
      volumes: queryFlag(args, 'volumes'),
      force: queryFlag(args, 'force'),
    }
    await unwrap(client.api.apps[':id'].$delete({ param: { id }, query }))
    show(ctx, { id, removed: true }, () => ctx.stdout.write(`Removed app ${ref}\n`))
  },
}

export const commands = [ls, create, info, rm]
