import { constants } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { z } from 'zod'
import { ArchiveRefused, DEFAULT_UNPACK_LIMITS, type UnpackLimits } from '../archive/policy.ts'
import { openNoFollow, unpackArchive } from '../archive/unpack.ts'
import { messageOf } from '../log.ts'
import { DeployFailure } from './stage.ts'

/**
 * Unpacks an uploaded tarball into `dest` (made here) under the archive policy: a refused or
 * unreadable tarball fails the deploy, and nothing of it is left in `dest`.
 */
export async function unpackTarball(
  file: string,
  dest: string,
  signal: AbortSignal,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<void> {
  try {
    await unpackArchive('tar', file, dest, signal, limits)
  } catch (err) {
    if (signal.aborted) throw signal.reason
    if (err instanceof ArchiveRefused) throw new DeployFailure(err.message)
    throw new DeployFailure(`the upload is not a readable .tar.gz: ${messageOf(err)}`)
  }
}

/** Whether a root-relative path, once normalised, stays inside the root. */
function staysInside(path: string): boolean {
  const normal = posix.normalize(path)
  return normal !== '..' && !normal.startsWith('../') && !posix.isAbsolute(normal)
}

// ---------------------------------------------------------------- what an upload holds

/** What an unpacked upload asks for: a build with a Dockerfile inside it, or an image to run. */
export type AppDefinition = { kind: 'build'; dockerfile: string } | { kind: 'image'; image: string }

const CAPTAIN_DEFINITION = 'captain-definition'
/** Where `dockerfileLines` are written, beside the upload's own files. */
const CAPTAIN_DOCKERFILE = 'captain-definition.Dockerfile'

const captainDefinition = z.object({
  schemaVersion: z.literal(2),
  dockerfilePath: z.string().min(1).optional(),
  dockerfileLines: z.array(z.string()).optional(),
  imageName: z.string().min(1).optional(),
})

/**
 * Reads what an unpacked upload is, as CapRover does: a `captain-definition` at the root naming a
 * Dockerfile path, Dockerfile lines or an image; else a `Dockerfile` at the root.
 */
export async function readAppDefinition(root: string): Promise<AppDefinition> {
  const definition = await regularFile(root, CAPTAIN_DEFINITION)
  if (definition === 'missing') {
    if ((await regularFile(root, 'Dockerfile')) === 'file') return { kind: 'build', dockerfile: 'Dockerfile' }
    throw new DeployFailure('the upload has neither a captain-definition nor a Dockerfile at its root')
  }
  if (definition === 'other') throw new DeployFailure('the captain-definition of the upload is not a file')
  let raw: unknown
  try {
    raw = JSON.parse(await readNoFollow(join(root, CAPTAIN_DEFINITION)))
  } catch {
    throw new DeployFailure('the captain-definition of the upload is not JSON')
  }
  const parsed = captainDefinition.safeParse(raw)
  if (!parsed.success) {
    throw new DeployFailure(
      'the captain-definition of the upload must be {"schemaVersion": 2, …} with a dockerfilePath, dockerfileLines or imageName',
    )
  }
  const { dockerfilePath, dockerfileLines, imageName } = parsed.data
  if (imageName !== undefined) return { kind: 'image', image: imageName }
  if (dockerfileLines !== undefined) {
    // Written over the upload's own file of that name, never through a link of the upload.
    const file = await openNoFollow(
      join(root, CAPTAIN_DOCKERFILE),
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC,
    )
    if (file === null) throw new DeployFailure(`the upload's ${CAPTAIN_DOCKERFILE} is a symlink`)
    try {
      await file.writeFile(`${dockerfileLines.join('\n')}\n`)
    } finally {
      await file.close()
    }
    return { kind: 'build', dockerfile: CAPTAIN_DOCKERFILE }
  }
  if (dockerfilePath !== undefined) {
    const path = posix.normalize(dockerfilePath.replace(/^\.\//, ''))
    if (!staysInside(path) || path === '.') {
      throw new DeployFailure(
        `the dockerfilePath "${dockerfilePath}" of the captain-definition is outside the upload`,
      )
    }
    if ((await regularFile(root, path)) !== 'file') {
      throw new DeployFailure(`the upload has no file "${dockerfilePath}" that its captain-definition names`)
    }
    return { kind: 'build', dockerfile: path }
  }
  throw new DeployFailure('the captain-definition names no dockerfilePath, dockerfileLines or imageName')
}

/** The text of a file, read only when the name itself is no link. */
async function readNoFollow(path: string): Promise<string> {
  const file = await openNoFollow(path, constants.O_RDONLY)
  if (file === null) throw new Error(`${path} is missing or a symlink`)
  try {
    return await file.readFile('utf8')
  } finally {
    await file.close()
  }
}

/** Whether `path` under `root` is a regular file (not a symlink), something else, or missing. */
async function regularFile(root: string, path: string): Promise<'file' | 'other' | 'missing'> {
  // Every component is checked: a symlinked folder could lead outside the root.
  const parts = path.split('/')
  for (const [index] of parts.entries()) {
    const info = await lstat(join(root, ...parts.slice(0, index + 1))).catch(() => null)
    if (!info) return 'missing'
    const last = index === parts.length - 1
    if (info.isSymbolicLink() || (last ? !info.isFile() : !info.isDirectory())) return 'other'
  }
  return 'file'
}
