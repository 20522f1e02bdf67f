import { type BerthClient, unwrap } from '@berth/client'
import { type Command, type CommandContext, EXIT, UsageError } from '../command.ts'
import { deployFolder, deployWithOptions, type QueuedDeployment } from '../deploy/send.ts'
import { watchDeployment } from '../deploy/watch.ts'
import { paint, show } from '../output.ts'
import { findApp } from '../refs.ts'

type App = Awaited<ReturnType<typeof findApp>>
type Values = Record<string, unknown>
const text = (v: unknown) => (typeof v === 'string' ? v : undefined)

/**
 * The app's stored source changed to what the flags name, when they name another kind (or another
 * repository): the deploy then runs from it, as every later deploy will.
 */
async function setSource(ctx: CommandContext, client: BerthClient, app: App, values: Values) {
  const git = text(values.git)
  const image = text(values.image)
  let source: App['source'] | undefined
  if (git && (app.source.type !== 'git' || app.source.url !== git)) {
    source = {
      type: 'git',
      url: git,
      branch: text(values.branch) ?? 'main',
      dockerfile: 'Dockerfile',
      context: '.',
    }
  } else if (image && app.source.type !== 'image') source = { type: 'image', image }
  else if (values.dir !== undefined && app.source.type !== 'upload') source = { type: 'upload' }
  if (!source) return false
  await unwrap(client.api.apps[':id'].$patch({ param: { id: app.id }, json: { source } }))
  if (!ctx.json)
    ctx.stderr.write(
      `${app.name} now deploys from ${source.type === 'git' ? source.url : source.type === 'image' ? source.image : 'uploads'}\n`,
    )
  return true
}

/** Prints a deployment just queued, or follows it to its end with --wait. */
async function report(
  ctx: CommandContext,
  client: BerthClient,
  app: App,
  deployment: QueuedDeployment,
  values: Values,
  started: number,
) {
  if (values.wait)
    return watchDeployment(ctx, client, {
      deploymentId: deployment.id,
      appId: app.id,
      serverId: app.server_id,
      started,
    })
  show(ctx, { deployment }, () =>
    ctx.stdout.write(
      `${paint(ctx, 'bold', deployment.id)} of ${app.name} is ${deployment.state} (berth deploy --wait follows a deploy)\n`,
    ),
  )
  return EXIT.ok
}

const deploy: Command = {
  name: 'deploy',
  summary: 'Deploy an app: from its source, a git branch, an image, or a local folder',
  usage: '[APP]',
  examples: [
    'berth deploy web --wait',
    'berth deploy web --dir . --wait',
    'berth deploy web --image nginx:1.27',
    'berth deploy web --git https://github.com/me/web.git --branch main --wait',
    'berth deploy --app web --branch v1.2 --json --wait',
  ],
  options: {
    app: { type: 'string', description: 'the app (name or id), when not given as APP' },
    git: { type: 'string', description: 'deploy from this repository (the app keeps it as its source)' },
    branch: { type: 'string', description: 'the branch, tag or commit to build (git apps)' },
    image: { type: 'string', description: 'run this image (an image app runs it this once)' },
    dir: { type: 'string', description: 'pack this folder (honouring .dockerignore) and deploy it' },
    wait: { type: 'boolean', short: 'w', description: 'follow the deploy to its end, with its build log' },
  },
  async run(ctx, { positionals, values }) {
    if (positionals.length > 1) throw new UsageError('deploy takes one app')
    const ref = positionals[0] ?? text(values.app)
    if (!ref) throw new UsageError('name the app: berth deploy APP')
    const sources = ['git', 'image', 'dir'].filter((k) => values[k] !== undefined)
    if (sources.length > 1) throw new UsageError(`--${sources.join(' and --')} cannot go together`)
    if (values.branch !== undefined && (values.image !== undefined || values.dir !== undefined))
      throw new UsageError('--branch is for git apps')
    const started = Date.now()
    const client = await ctx.client()
    const app = await findApp(client, ref)
    const switched = await setSource(ctx, client, app, values)
    const dir = text(values.dir)
    const deployment = dir
      ? await deployFolder(ctx, client, { appId: app.id, dir })
      : await deployWithOptions(ctx, client, {
          appId: app.id,
          options: switched ? {} : { ref: text(values.branch), image: text(values.image) },
        })
    return report(ctx, client, app, deployment, values, started)
  },
}

const rollback: Command = {
  name: 'rollback',
  summary: 'Deploy the image of an earlier successful deployment again, without building',
  usage: 'APP',
  examples: ['berth rollback web', 'berth rollback web --to dep_01j... --wait'],
  options: {
    to: { type: 'string', description: 'the deployment to go back to (default: the one before the current)' },
    wait: { type: 'boolean', short: 'w', description: 'follow the rollback to its end' },
  },
  async run(ctx, { positionals, values }) {
    if (positionals.length !== 1) throw new UsageError('rollback takes one app')
    const started = Date.now()
    const client = await ctx.client()
    const app = await findApp(client, positionals[0]!)
    const { deployment } = await unwrap(
      client.api.apps[':id'].rollback.$post({
        param: { id: app.id },
        json: { deployment_id: text(values.to) },
      }),
    )
    return report(ctx, client, app, deployment, values, started)
  },
}

const cancel: Command = {
  name: 'cancel',
  summary: 'Stop a deployment before it serves (the serving version is untouched)',
  usage: 'DEPLOYMENT',
  examples: ['berth cancel dep_01j...'],
  options: {},
  async run(ctx, { positionals }) {
    if (positionals.length !== 1) throw new UsageError('cancel takes one deployment id')
    const client = await ctx.client()
    const { deployment } = await unwrap(
      client.api.deployments[':id'].cancel.$post({ param: { id: positionals[0]! } }),
    )
    show(ctx, { deployment }, () => ctx.stdout.write(`${deployment.id} is ${deployment.state}\n`))
  },
}

export const commands = [deploy, rollback, cancel]
