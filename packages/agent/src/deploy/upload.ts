import { constants, createReadStream, createWriteStream } from 'node:fs'
import { link, lstat, mkdir, open, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, posix } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import { z } from 'zod'
import { OpError } from '../errors.ts'
import { DeployFailure } from './stage.ts'

/** The largest tarball the agent takes, compressed. */
export const MAX_UPLOAD_BYTES = 2 * 1024 ** 3
/** Uploads never deployed are removed after this long. */
const UPLOAD_TTL_MS = 24 * 3600_000

export interface UnpackLimits {
  /** Bytes of all files together, unpacked. */
  maxBytes: number
  maxEntries: number
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxBytes: 2 * 1024 ** 3, maxEntries: 100_000 }

export function uploadPath(uploadsDir: string, uploadId: string): string {
  return join(uploadsDir, `${uploadId}.tar.gz`)
}

/**
 * Writes a piece of an uploaded tarball at its offset; sending the same piece again changes
 * nothing. Returns the file's size. Uploads older than a day are removed on the way.
 */
export async function writeUploadChunk(
  uploadsDir: string,
  chunk: { upload_id: string; offset: number; data: string },
): Promise<number> {
  const data = Buffer.from(chunk.data, 'base64')
  if (chunk.offset + data.length > MAX_UPLOAD_BYTES) {
    throw new OpError('validation_error', `an upload may hold at most ${MAX_UPLOAD_BYTES} bytes`)
  }
  await mkdir(uploadsDir, { recursive: true, mode: 0o700 })
  await removeStaleUploads(uploadsDir)
  // Created when missing, never truncated: pieces may come in any order, and more than once.
  const file = await open(
    uploadPath(uploadsDir, chunk.upload_id),
    constants.O_RDWR | constants.O_CREAT,
    0o600,
  )
  try {
    if (data.length > 0) await file.write(data, 0, data.length, chunk.offset)
    return (await file.stat()).size
  } finally {
    await file.close()
  }
}

async function removeStaleUploads(uploadsDir: string): Promise<void> {
  const now = Date.now()
  for (const name of await readdir(uploadsDir).catch(() => [])) {
    const path = join(uploadsDir, name)
    const info = await stat(path).catch(() => null)
    if (info && now - info.mtimeMs > UPLOAD_TTL_MS) await rm(path, { force: true })
  }
}

type EntryHeader = tar.Headers

/**
 * Unpacks a gzipped tarball into `dest` (made here), refusing the whole tarball when any entry
 * would land outside it: an absolute name, a `..` component, a symlink or hard link pointing out,
 * or an entry written through a symlink. Nothing is left in `dest` when it is refused.
 */
export async function unpackTarball(
  file: string,
  dest: string,
  signal: AbortSignal,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o700 })
  const symlinks = new Set<string>()
  const files = new Set<string>()
  let bytes = 0
  let entries = 0

  const unpackEntry = async (header: EntryHeader, body: Readable): Promise<void> => {
    if (++entries > limits.maxEntries) throw refused(`it has more than ${limits.maxEntries} entries`)
    const name = entryPath(header.name)
    if (name === null) {
      body.resume()
      return
    }
    const through = parentsOf(name).find((parent) => symlinks.has(parent))
    if (through !== undefined) throw refused(`the entry "${header.name}" lies under the symlink "${through}"`)
    const target = join(dest, name)
    const mode = (header.mode ?? 0o644) & 0o777
    switch (header.type) {
      case 'directory':
        body.resume()
        await mkdir(target, { recursive: true, mode: mode | 0o700 })
        return
      case 'file':
      case 'contiguous-file': {
        bytes += header.size ?? 0
        if (bytes > limits.maxBytes) throw refused(`it unpacks to more than ${limits.maxBytes} bytes`)
        await mkdir(dirname(target), { recursive: true, mode: 0o755 })
        // "wx" never writes through whatever already has this name.
        await pipeline(body, createWriteStream(target, { flags: 'wx', mode: mode | 0o600 })).catch((err) => {
          throw isExisting(err) ? refused(`the entry "${header.name}" appears twice`) : err
        })
        files.add(name)
        return
      }
      case 'symlink': {
        body.resume()
        const linkname = header.linkname ?? ''
        if (!staysInside(posix.join(posix.dirname(name), linkname)) || linkname.startsWith('/')) {
          throw refused(`the symlink "${header.name}" points outside it, to "${linkname}"`)
        }
        await mkdir(dirname(target), { recursive: true, mode: 0o755 })
        await symlink(linkname, target).catch((err) => {
          throw isExisting(err) ? refused(`the entry "${header.name}" appears twice`) : err
        })
        symlinks.add(name)
        return
      }
      case 'link': {
        body.resume()
        const linked = entryPath(header.linkname ?? '')
        if (linked === null || !files.has(linked)) {
          throw refused(`the hard link "${header.name}" points to "${header.linkname}", not a file before it`)
        }
        await mkdir(dirname(target), { recursive: true, mode: 0o755 })
        await link(join(dest, linked), target).catch((err) => {
          throw isExisting(err) ? refused(`the entry "${header.name}" appears twice`) : err
        })
        files.add(name)
        return
      }
      default:
        // Devices and FIFOs have no place in a build context.
        body.resume()
    }
  }

  const extract = tar.extract()
  extract.on('entry', (header, body, next) => {
    unpackEntry(header, body).then(
      () => next(),
      (err: unknown) => extract.destroy(err instanceof Error ? err : new Error(String(err))),
    )
  })
  try {
    await pipeline(createReadStream(file), createGunzip(), extract, { signal })
  } catch (err) {
    await rm(dest, { recursive: true, force: true })
    if (signal.aborted) throw signal.reason
    if (err instanceof DeployFailure) throw err
    throw new DeployFailure(
      `the upload is not a readable .tar.gz: ${err instanceof Error ? err.message : err}`,
    )
  }
}

function refused(why: string): DeployFailure {
  return new DeployFailure(`the upload was refused: ${why}`)
}

/**
 * An entry's path relative to the root, `./` and empty components dropped; null for the root
 * itself. Absolute names and `..` components are refused.
 */
function entryPath(name: string): string | null {
  if (name.includes('\0')) throw refused(`an entry name holds a NUL byte`)
  if (name.startsWith('/')) throw refused(`the entry "${name}" has an absolute name`)
  const parts = name.split('/').filter((part) => part !== '' && part !== '.')
  if (parts.includes('..')) throw refused(`the entry "${name}" has a ".." component`)
  return parts.length === 0 ? null : parts.join('/')
}

function parentsOf(path: string): string[] {
  const parts = path.split('/')
  return parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join('/'))
}

/** Whether a root-relative path, once normalised, stays inside the root. */
function staysInside(path: string): boolean {
  const normal = posix.normalize(path)
  return normal !== '..' && !normal.startsWith('../') && !posix.isAbsolute(normal)
}

function isExisting(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'EEXIST'
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
    raw = JSON.parse(await readFile(join(root, CAPTAIN_DEFINITION), 'utf8'))
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
    await writeFile(join(root, CAPTAIN_DOCKERFILE), `${dockerfileLines.join('\n')}\n`, { mode: 0o644 })
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
