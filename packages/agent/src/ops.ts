import { statfs } from 'node:fs/promises'
import os from 'node:os'
import {
  isStreamOp,
  type OpArgs,
  type OpName,
  type OpResult,
  ops,
  type StreamOpName,
  type ToAgent,
} from '@berth/shared'
import { z } from 'zod'
import { OutputBatcher } from './batch.ts'
import { Mutex } from './concurrency.ts'
import {
  containerAction,
  cpusOf,
  createContainer,
  detailOf,
  limitsOf,
  listSummaries,
  recreateContainer,
  stateRefusal,
  unixMs,
} from './containers.ts'
import { AppHost, type AppHostOptions } from './deploy/apps.ts'
import type {
  Docker,
  ImageInspect,
  ImageListing,
  NetworkListing,
  TtySize,
  VolumeListing,
} from './docker/index.ts'
import { OpError, recast } from './errors.ts'
import { execOps } from './exec.ts'
import { fileOps } from './files.ts'
import { gitOps } from './git.ts'
import { type Log, messageOf } from './log.ts'
import { StatsHistory, sampleNow } from './stats.ts'

/** What the agent keeps across calls. */
export interface AgentRuntime {
  /** Held from choosing host ports until the container publishing them exists, so two creates never pick the same port. */
  readonly portLock: Mutex
  /** The stats sampler's last readings, which `container.stats` measures against too. */
  readonly stats: StatsHistory
  /** The apps this host serves and their deploys; null for a runtime made without them (tests of other ops). */
  readonly apps: AppHost | null
  /** Streams whose handlers are still running. */
  openStreams(): StreamReport[]
}

/** A running stream as `agent.status` reports it. */
export type StreamReport = OpResult<'agent.status'>['streams'][number]

export interface RuntimeOptions {
  openStreams?: () => StreamReport[]
  /** What the apps' deploys need; the runtime's port lock is shared with them. */
  apps?: Omit<AppHostOptions, 'portLock'>
}

export function newRuntime(options: RuntimeOptions = {}): AgentRuntime {
  const portLock = new Mutex()
  return {
    portLock,
    stats: new StatsHistory(),
    apps: options.apps ? new AppHost({ ...options.apps, portLock }) : null,
    openStreams: options.openStreams ?? (() => []),
  }
}

/** What a handler works with: the host's Docker, a signal that aborts when the call is cancelled or times out, and the agent's own state. */
export interface OpContext {
  docker: Docker
  signal: AbortSignal
  agent: AgentRuntime
}

export type StreamName = 'stdout' | 'stderr' | 'data'

export type SignalName = Extract<ToAgent, { type: 'signal' }>['name']

/** What a stream handler has on top: a way to send output, and what the API sends while it runs. */
export interface StreamContext extends OpContext {
  /**
   * Sends a piece of output as a `chunk` frame; resolves when the link can take more. Text that is
   * valid UTF-8 goes as is unless `encoding` asks for base64.
   */
  emit(stream: StreamName, data: Buffer | string, encoding?: 'base64'): Promise<void>
  /** Gets each `input` frame's data as bytes, those sent before listening included. */
  onInput(listener: (data: Buffer) => void): void
  onResize(listener: (size: TtySize) => void): void
  onSignal(listener: (name: SignalName) => void): void
  log: Log
}

/** How a stream ended well; the `end` frame carries it. */
export interface StreamEnd {
  exitCode?: number
}

type CallOpName = Exclude<OpName, StreamOpName>
type CallHandler<O extends CallOpName> = (args: OpArgs<O>, ctx: OpContext) => Promise<OpResult<O>>
type StreamHandler<O extends StreamOpName> = (args: OpArgs<O>, ctx: StreamContext) => Promise<StreamEnd>

/** One handler per op of the protocol: an op added in @berth/shared without a handler here does not compile. */
export type OpHandlers = { [O in CallOpName]: CallHandler<O> } & { [O in StreamOpName]: StreamHandler<O> }

const USED_BY_CONTAINER = /has active endpoints/i

export const handlers: OpHandlers = {
  'docker.ping': async (_args, { docker, signal }) => {
    const started = performance.now()
    await docker.ping(signal)
    return { docker_ms: Math.round((performance.now() - started) * 100) / 100 }
  },

  'host.resources': async (_args, { docker, signal }) => {
    const info = await docker.info(signal)
    const total = os.totalmem()
    const free = os.freemem()
    const [one, five, fifteen] = os.loadavg()
    return {
      cpus: os.cpus().length,
      load: [one ?? 0, five ?? 0, fifteen ?? 0],
      memory: { total, used: total - free, free },
      disk: await diskOf(info.rootDir),
      uptime_s: Math.round(os.uptime()),
      docker: { containers: info.containers, running: info.running, images: info.images },
    }
  },

  'agent.status': async (_args, { agent }) => {
    const streams = agent.openStreams()
    return {
      open_streams: streams.length,
      streams,
      uptime_s: Math.round(process.uptime()),
      rss_bytes: process.memoryUsage.rss(),
    }
  },

  'container.list': async (_args, { docker, signal }) => ({
    containers: await listSummaries(docker, signal),
  }),
  'container.create': (args, ctx) => createContainer(args, ctx),
  'container.inspect': async ({ ref }, { docker, signal }) =>
    detailOf(await docker.inspectContainer(ref, signal)),
  'container.update': async ({ ref, resources }, { docker, signal, agent }) => {
    await docker.updateContainer(ref, limitsOf(resources), signal).catch((err: unknown) => {
      throw stateRefusal(err)
    })
    const container = await docker.inspectContainer(ref, signal)
    agent.stats.setLimit(container.Id, cpusOf(container))
    return detailOf(container)
  },
  'container.recreate': (args, ctx) => recreateContainer(args, ctx),
  'container.action': (args, ctx) => containerAction(args, ctx),
  'container.remove': async ({ ref, force, volumes }, { docker, signal }) => {
    const { Id } = await docker.inspectContainer(ref, signal)
    await docker.removeContainer(Id, { force, volumes }, signal).catch((err: unknown) => {
      throw stateRefusal(err)
    })
    return { docker_id: Id }
  },
  'container.logs': async (args, { docker, signal, emit }) => {
    const container = await docker.inspectContainer(args.ref, signal)
    const output = await docker.containerLogs(
      container.Id,
      {
        tty: container.Config.Tty === true,
        follow: args.follow,
        tail: args.tail,
        since: args.since,
        timestamps: args.timestamps,
      },
      signal,
    )
    const batch = new OutputBatcher((stream, data) => emit(stream, data))
    try {
      for await (const piece of output) await batch.push(piece.stream, piece.data)
    } finally {
      await batch.flush()
    }
    if (!args.follow) return {}
    // A followed log ends when the container stops: its exit code says how.
    const after = await docker.inspectContainer(container.Id, signal)
    return after.State.Status === 'exited' ? { exitCode: after.State.ExitCode } : {}
  },
  'container.stats': async ({ ref }, { docker, signal, agent }) => {
    const container = await docker.inspectContainer(ref, signal)
    return sampleNow(docker, container.Id, cpusOf(container), agent.stats, signal)
  },

  'image.list': async (_args, { docker, signal }) => ({
    images: (await docker.listImages(signal)).map(imageInfo),
  }),
  'image.pull': async ({ image }, { docker, signal }) => {
    await docker.pullImage(image, signal)
    return { image: imageInfo(await docker.inspectImage(image, signal)) }
  },
  'image.remove': async ({ ref, force }, { docker, signal }) => {
    const removed = await docker.removeImage(ref, force, signal)
    return {
      deleted: removed.flatMap((r) => (r.Deleted ? [r.Deleted] : [])),
      untagged: removed.flatMap((r) => (r.Untagged ? [r.Untagged] : [])),
    }
  },
  'image.prune': async ({ all }, { docker, signal }) => {
    const pruned = await docker.pruneImages(all, signal)
    return {
      deleted: (pruned.ImagesDeleted ?? []).flatMap((r) => (r.Deleted ? [r.Deleted] : [])),
      reclaimed_bytes: pruned.SpaceReclaimed,
    }
  },

  'volume.list': async (_args, { docker, signal }) => {
    const [volumes, containers] = await Promise.all([
      docker.listVolumes(signal),
      docker.listContainers(true, signal),
    ])
    const used = new Set(containers.flatMap((c) => (c.Mounts ?? []).flatMap((m) => (m.Name ? [m.Name] : []))))
    return { volumes: volumes.map((v) => volumeInfo(v, used.has(v.Name))) }
  },
  'volume.create': async ({ name, labels }, { docker, signal }) => ({
    volume: volumeInfo(await docker.createVolume(name, labels, signal), null),
  }),
  'volume.remove': async ({ name, force }, { docker, signal }) => {
    await docker.removeVolume(name, force, signal)
    return {}
  },
  'volume.prune': async (_args, { docker, signal }) => {
    const pruned = await docker.pruneVolumes(signal)
    return { deleted: pruned.VolumesDeleted ?? [], reclaimed_bytes: pruned.SpaceReclaimed }
  },

  'network.list': async (_args, { docker, signal }) => ({
    networks: (await docker.listNetworks(signal)).map(networkInfo),
  }),
  'network.create': async (args, { docker, signal }) => {
    const id = await docker.createNetwork(args, signal)
    return { network: networkInfo(await docker.inspectNetwork(id, signal)) }
  },
  'network.remove': async ({ ref }, { docker, signal }) => {
    // Docker answers 403 both for a built-in network (state_error) and for one containers still use.
    await docker.removeNetwork(ref, signal).catch((err: unknown) => {
      throw recast(err, 'conflict', (e) => USED_BY_CONTAINER.test(e.message))
    })
    return {}
  },

  'deploy.start': async (args, { agent }) => appsOf(agent).startDeploy(args),
  'deploy.cancel': ({ deployment_id }, { agent }) => appsOf(agent).cancelDeploy(deployment_id),
  'deploy.status': async ({ deployment_ids }, { agent }) => appsOf(agent).deployStatus(deployment_ids),
  'deploy.cleanup': (args, { agent, signal }) => appsOf(agent).cleanUp(args, signal),
  'upload.chunk': (args, { agent }) => appsOf(agent).uploadChunk(args),
  'app.remove': (args, { agent, signal }) => appsOf(agent).removeApp(args, signal),
  ...execOps,
  ...fileOps,
  ...gitOps,
}

function appsOf(agent: AgentRuntime): AppHost {
  if (!agent.apps) throw new OpError('agent_error', 'this agent was started without apps')
  return agent.apps
}

type ImageInfo = OpResult<'image.pull'>['image']

function imageInfo(image: ImageListing | ImageInspect): ImageInfo {
  const counted = 'Containers' in image ? image.Containers : null
  return {
    id: image.Id,
    tags: (image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>'),
    size: image.Size,
    created_at: typeof image.Created === 'number' ? image.Created * 1000 : (unixMs(image.Created) ?? 0),
    // Docker counts an image's containers only when asked for disk usage; -1 is "not counted".
    containers: typeof counted === 'number' && counted >= 0 ? counted : null,
  }
}

function volumeInfo(
  volume: VolumeListing,
  inUse: boolean | null,
): OpResult<'volume.list'>['volumes'][number] {
  return {
    name: volume.Name,
    driver: volume.Driver,
    mountpoint: volume.Mountpoint,
    created_at: unixMs(volume.CreatedAt),
    labels: volume.Labels ?? {},
    in_use: inUse,
  }
}

function networkInfo(network: NetworkListing): OpResult<'network.list'>['networks'][number] {
  return {
    id: network.Id,
    name: network.Name,
    driver: network.Driver,
    scope: network.Scope,
    internal: network.Internal,
    labels: network.Labels ?? {},
    created_at: unixMs(network.Created),
  }
}

/** Space on the file system of Docker's data, or of `/` when the agent cannot see Docker's folder. */
async function diskOf(dockerRoot: string | null): Promise<OpResult<'host.resources'>['disk']> {
  for (const path of dockerRoot ? [dockerRoot, '/'] : ['/']) {
    try {
      const fs = await statfs(path)
      return {
        path,
        total: fs.blocks * fs.bsize,
        used: (fs.blocks - fs.bfree) * fs.bsize,
        free: fs.bavail * fs.bsize,
      }
    } catch (err) {
      if (path === '/') throw new OpError('agent_error', `cannot read the disk usage of /: ${messageOf(err)}`)
    }
  }
  throw new OpError('agent_error', 'cannot read the disk usage of /')
}

/** Runs the op a call names, with its arguments checked against the protocol. */
export function runOp(op: string, args: unknown, ctx: OpContext): Promise<unknown> {
  if (!isOpName(op)) return Promise.reject(unknownOp(op))
  if (isStream(op))
    return Promise.reject(new OpError('validation_error', `${op} is a stream; open it as one`))
  return runCall(op, args, ctx)
}

/** Runs the stream op a call names; its output goes out through `ctx.emit`. */
export function runStreamOp(op: string, args: unknown, ctx: StreamContext): Promise<StreamEnd> {
  if (!isOpName(op)) return Promise.reject(unknownOp(op))
  if (!isStream(op)) return Promise.reject(new OpError('validation_error', `${op} is not a stream`))
  return runStream(op, args, ctx)
}

function isOpName(op: string): op is OpName {
  return Object.hasOwn(ops, op)
}

function isStream(op: OpName): op is StreamOpName {
  return isStreamOp(op)
}

/** Whether `op` names a stream op of the protocol. */
export function isStreamOpName(op: string): boolean {
  return isOpName(op) && isStream(op)
}

const unknownOp = (op: string) => new OpError('validation_error', `unknown op "${op.slice(0, 100)}"`)

async function runCall<O extends CallOpName>(op: O, args: unknown, ctx: OpContext): Promise<OpResult<O>> {
  // TypeScript widens `handlers[op]` to the union of all handlers; this one is op's own.
  const handler = handlers[op] as CallHandler<O>
  return handler(parseArgs(op, args), ctx)
}

async function runStream<O extends StreamOpName>(
  op: O,
  args: unknown,
  ctx: StreamContext,
): Promise<StreamEnd> {
  const handler = handlers[op] as StreamHandler<O>
  return handler(parseArgs(op, args), ctx)
}

function parseArgs<O extends OpName>(op: O, args: unknown): OpArgs<O> {
  const parsed = ops[op].args.safeParse(args)
  if (!parsed.success) {
    throw new OpError('validation_error', `invalid arguments for ${op}: ${z.prettifyError(parsed.error)}`)
  }
  // TypeScript widens `ops[op]` to the union of all ops; the schema parsed is this op's own.
  return parsed.data as OpArgs<O>
}
