import { mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { DeployArgs } from '@berth/shared'
import type { Mutex } from '../concurrency.ts'
import { DockerError } from '../docker/index.ts'
import { messageOf } from '../log.ts'
import type { Uploads } from '../uploads.ts'
import { buildImage, buildPaths } from './build.ts'
import type { Serving } from './fronts.ts'
import { cloneRepository } from './git.ts'
import type { DeployJob } from './job.ts'
import { rollOut } from './rollout.ts'
import { DeployCancelled, DeployFailure, stageWithin } from './stage.ts'
import { readAppDefinition, unpackTarball } from './upload.ts'

export interface DeployHost extends Serving {
  /** The folder each deploy works in (jobs/<deployment>). */
  workDir: string
  /** Where an upload deploy's tarball waits. */
  uploads: Uploads
  /** Held by one rollout of an app at a time. */
  appLock(appId: string): Mutex
  /** Remembers which deployment serves an app now. */
  recordServing(appId: string, deploymentId: string): Promise<void>
}

/**
 * Runs a deploy to its end: gets the image (pull, clone and build, or unpack and build), rolls it
 * out, and reports every step through the job. Whatever the outcome, its work folder is removed;
 * a deploy that does not reach `running` leaves no container and no image tag of its own.
 */
export async function runDeploy(host: DeployHost, args: DeployArgs, job: DeployJob): Promise<void> {
  const signal = job.cancel.signal
  const jobDir = join(host.workDir, 'jobs', folderName(args.deployment_id))
  let tagged = false
  let outcome:
    | { state: 'running'; image: string; hostPort: number; containers: string[] }
    | { state: 'failed'; reason: string }
    | { state: 'cancelled' }
  try {
    await rm(jobDir, { recursive: true, force: true })
    await mkdir(jobDir, { recursive: true, mode: 0o700 })
    const image = await imageOf(host, args, job, jobDir, () => {
      tagged = true
    })
    // Image deploys are deploying from the start, pull included.
    if (job.state !== 'deploying') job.move('deploying', { image })
    const rolled = await host.appLock(args.app_id).run(() => {
      signal.throwIfAborted()
      return rollOut(host, args, image, job, signal, () => {
        job.serving = true
      })
    })
    await host.recordServing(args.app_id, args.deployment_id).catch(() => {})
    outcome = { state: 'running', image, hostPort: rolled.hostPort, containers: rolled.containers }
  } catch (err) {
    if (signal.reason instanceof DeployCancelled) outcome = { state: 'cancelled' }
    else
      outcome = {
        state: 'failed',
        reason: err instanceof DeployFailure ? err.message : `the deploy failed: ${messageOf(err)}`,
      }
  }

  await rm(jobDir, { recursive: true, force: true }).catch(() => {})
  if (args.source.type === 'upload') {
    await host.uploads.remove(args.source.upload_id).catch(() => {})
  }
  if (outcome.state !== 'running' && tagged) await removeTag(host, args.image_tag)
  switch (outcome.state) {
    case 'running':
      job.log('system', `running on host port ${outcome.hostPort}`)
      job.finish('running', {
        image: outcome.image,
        host_port: outcome.hostPort,
        containers: outcome.containers,
      })
      return
    case 'failed':
      job.log('system', outcome.reason)
      job.finish('failed', { reason: outcome.reason })
      return
    case 'cancelled':
      job.log('system', 'the deployment was cancelled')
      job.finish('cancelled')
      return
    default:
      outcome satisfies never
  }
}

/** The image the deploy runs; `onTag` is called before a build that may make `image_tag`. */
async function imageOf(
  host: DeployHost,
  args: DeployArgs,
  job: DeployJob,
  jobDir: string,
  onTag: () => void,
): Promise<string> {
  const { source } = args
  const signal = job.cancel.signal
  switch (source.type) {
    case 'image':
      job.move('deploying', { image: source.image })
      await pullIfMissing(host, source.image, job, args.deadlines.build_ms)
      return source.image
    case 'prebuilt':
      job.move('deploying', { image: source.image })
      await host.docker.inspectImage(source.image, signal).catch((err: unknown) => {
        if (err instanceof DockerError && err.status === 404) {
          throw new DeployFailure(`the image ${source.image} is no longer on this host`)
        }
        throw err
      })
      return source.image
    case 'git': {
      job.move('cloning')
      const src = join(jobDir, 'src')
      const stage = stageWithin(signal, args.deadlines.clone_ms, 'the clone')
      try {
        const commit = await cloneRepository(host.docker, source, src, jobDir, job, stage.signal)
        job.note({ commit })
        job.log('system', `cloned ${commit.sha.slice(0, 12)} ${commit.message}`)
      } finally {
        stage.end()
      }
      job.move('building')
      const paths = await buildPaths(src, source.context, source.dockerfile)
      onTag()
      // The history stays out of the image, as with `docker build <git URL>`.
      await build(host, args, job, { ...paths, leaveOut: [join(paths.context, '.git')] })
      return args.image_tag
    }
    case 'upload': {
      job.move('cloning')
      const file = host.uploads.path(source.upload_id)
      const size = await stat(file).then(
        (info) => info.size,
        () => null,
      )
      if (size !== source.bytes) {
        throw new DeployFailure(
          size === null
            ? 'the uploaded tarball is not on this host'
            : `the uploaded tarball has ${size} bytes, not the ${source.bytes} sent`,
        )
      }
      const src = join(jobDir, 'src')
      const stage = stageWithin(signal, args.deadlines.clone_ms, 'unpacking the upload')
      try {
        await unpackTarball(file, src, stage.signal)
      } finally {
        stage.end()
      }
      job.log('system', `unpacked the upload (${size} bytes)`)
      const definition = await readAppDefinition(src)
      if (definition.kind === 'image') {
        job.log('system', `the captain-definition names the image ${definition.image}`)
        job.move('deploying', { image: definition.image })
        await pullIfMissing(host, definition.image, job, args.deadlines.build_ms)
        return definition.image
      }
      job.move('building')
      const paths = await buildPaths(src, '.', definition.dockerfile)
      onTag()
      await build(host, args, job, paths)
      return args.image_tag
    }
    default:
      return source satisfies never
  }
}

async function build(
  host: DeployHost,
  args: DeployArgs,
  job: DeployJob,
  paths: { context: string; dockerfile: string; leaveOut?: string[] },
): Promise<void> {
  job.log('system', `building ${args.image_tag} with ${paths.dockerfile}`)
  const stage = stageWithin(job.cancel.signal, args.deadlines.build_ms, 'the build')
  try {
    await buildImage(
      host.docker,
      {
        ...paths,
        tag: args.image_tag,
        cpus: args.build.cpus,
        memory: args.build.memory,
      },
      job,
      stage.signal,
    )
  } finally {
    stage.end()
  }
  job.log('system', `built ${args.image_tag}`)
}

/** Pulls `image` unless the host has it; no registry is asked about an image already here. */
async function pullIfMissing(
  host: DeployHost,
  image: string,
  job: DeployJob,
  deadlineMs: number,
): Promise<void> {
  const stage = stageWithin(job.cancel.signal, deadlineMs, 'the pull')
  try {
    const here = await host.docker.inspectImage(image, stage.signal).then(
      () => true,
      (err: unknown) => {
        if (err instanceof DockerError && err.status === 404) return false
        throw err
      },
    )
    if (here) return
    job.log('system', `pulling ${image}`)
    await host.docker.pullImage(image, stage.signal).catch((err: unknown) => {
      if (stage.signal.aborted) throw stage.signal.reason
      throw new DeployFailure(`cannot pull ${image}: ${messageOf(err)}`)
    })
  } finally {
    stage.end()
  }
}

/** Removes the tag a failed build may have made; an image a container uses stays. */
async function removeTag(host: DeployHost, tag: string): Promise<void> {
  await host.docker.removeImage(tag, false).catch(() => {})
}

/** A deployment id as one safe path component. */
function folderName(id: string): string {
  return id.replace(/[^\w.-]/g, '_').replace(/^\.+/, '_') || '_'
}
