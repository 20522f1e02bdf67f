import { lstatSync } from 'node:fs'
import { readFile, realpath, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import dockerignore from '@balena/dockerignore'
import { pack } from 'tar-fs'
import type { Docker } from '../docker/index.ts'
import type { DeployJob } from './job.ts'
import { DeployFailure } from './stage.ts'

/** The CFS period the build's CPU cap is expressed in, µs (Docker's default). */
const CPU_PERIOD_US = 100_000

export interface BuildRequest {
  /** The build context: a folder, absolute. */
  context: string
  /** The Dockerfile's path inside the context. */
  dockerfile: string
  /** The image's name: `berth/<app>:<deployment>` says whose it is. No labels are added: with the classic builder each costs a step. */
  tag: string
  cpus?: number | undefined
  memory?: number | undefined
  /** Paths inside the context (absolute) that are not sent, e.g. a clone's .git folder. */
  leaveOut?: string[]
}

/**
 * The context folder and Dockerfile of a build, both inside `root` once symlinks are followed; a
 * repository cannot point a build at the host's files.
 */
export async function buildPaths(
  root: string,
  context: string,
  dockerfile: string,
): Promise<{ context: string; dockerfile: string }> {
  const realRoot = await realpath(root)
  const inside = async (path: string, what: string) => {
    const real = await realpath(path).catch(() => null)
    if (real === null) throw new DeployFailure(`the repository has no ${what}`)
    if (real !== realRoot && !real.startsWith(`${realRoot}${sep}`)) {
      throw new DeployFailure(`the ${what} leads outside the repository`)
    }
    return real
  }
  const contextDir = await inside(join(root, context), `build context "${context}"`)
  if (!(await stat(contextDir)).isDirectory())
    throw new DeployFailure(`the build context "${context}" is not a folder`)
  const file = await inside(join(contextDir, dockerfile), `Dockerfile "${dockerfile}" in "${context}"`)
  if (!(await stat(file)).isFile()) throw new DeployFailure(`the Dockerfile "${dockerfile}" is not a file`)
  return { context: contextDir, dockerfile }
}

/**
 * Builds an image with the engine's classic builder, its output going to the job's log. Docker's
 * error ends the build as a DeployFailure with Docker's message; aborting `signal` stops it.
 */
export async function buildImage(
  docker: Docker,
  request: BuildRequest,
  job: DeployJob,
  signal: AbortSignal,
): Promise<void> {
  const context = await packContext(request.context, request.dockerfile, new Set(request.leaveOut))
  const limits: { cpuperiod?: number; cpuquota?: number; memory?: number; memswap?: number } = {}
  if (request.cpus !== undefined) {
    limits.cpuperiod = CPU_PERIOD_US
    limits.cpuquota = Math.max(1000, Math.round(request.cpus * CPU_PERIOD_US))
  }
  if (request.memory !== undefined) {
    limits.memory = request.memory
    limits.memswap = request.memory
  }
  const stdout = job.lineWriter('stdout')
  let failure: string | null = null
  try {
    const progress = await docker.buildImage(
      context,
      { t: request.tag, dockerfile: request.dockerfile, forcerm: true, ...limits },
      signal,
    )
    for await (const message of progress) {
      if (message.stream !== undefined) stdout.write(message.stream)
      else if (message.status !== undefined) job.log('stdout', message.status)
      if (message.error !== undefined) failure = message.errorDetail?.message || message.error
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason
    throw new DeployFailure(err instanceof Error ? err.message : String(err))
  } finally {
    context.destroy()
    stdout.end()
  }
  if (signal.aborted) throw signal.reason
  if (failure !== null) throw new DeployFailure(failure)
}

/**
 * A tar stream of the context, without what its .dockerignore leaves out (the Dockerfile always
 * goes) and without `leaveOut`.
 */
async function packContext(dir: string, dockerfile: string, leaveOut: Set<string>) {
  // Read as root: a .dockerignore linked to a host file is not read. tar-fs packs links as links.
  const ignorePath = await realpath(join(dir, '.dockerignore')).catch(() => null)
  const ignoreFile = ignorePath?.startsWith(`${dir}${sep}`)
    ? await readFile(ignorePath, 'utf8').catch(() => null)
    : null
  if (ignoreFile === null) return pack(dir, { ignore: (path) => leaveOut.has(path) })
  const rules = dockerignore().add(ignoreFile)
  // A rule starting with "!" may bring back a file inside an ignored folder, so folders are kept then.
  const hasExceptions = ignoreFile.split('\n').some((line) => line.trim().startsWith('!'))
  const kept = new Set([dockerfile, '.dockerignore'])
  return pack(dir, {
    ignore: (path) => {
      if (leaveOut.has(path)) return true
      const name = relative(dir, path).split(sep).join('/')
      if (!name || kept.has(name) || !rules.ignores(name)) return false
      return !(hasExceptions && lstatSync(path).isDirectory())
    },
  })
}
