import { stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { Readable } from 'node:stream'
import type { OpArgs } from '@berth/shared'
import tar from 'tar-stream'
import { type ArchivePolicy, ArchiveRefused, type Destination, relativeName } from '../archive/policy.ts'
import { readArchive, readTar } from '../archive/read.ts'
import { checkArchive } from '../archive/unpack.ts'
import type { Docker } from '../docker/index.ts'
import { OpError } from '../errors.ts'
import { messageOf } from '../log.ts'
import { ZipWriter } from '../zip.ts'
import type { OpHandlers, StreamContext } from './context.ts'

// Files in containers: stat, download (a file as is, a directory as tar or zip), and unpacking
// an uploaded tar or zip, confined to the directory it is unpacked into.

/** What is at a path in a container, symlinks followed. */
interface Target {
  type: 'file' | 'directory' | 'other'
  name: string
  size: number
  /** The path with symlinks resolved. */
  path: string
}

// Go's os.FileMode type bits, as Docker's path stat carries them.
const MODE_DIR = 0x80000000
const MODE_SYMLINK = 1 << 27
/** ModeDir, ModeSymlink, ModeDevice, ModeNamedPipe, ModeSocket, ModeCharDevice, ModeIrregular. */
const MODE_TYPE = MODE_DIR | MODE_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)

/** Bytes per chunk of a download: fewer, larger frames than Docker's pieces. */
const OUT_PIECE = 64 * 1024

export const fileOps: Pick<OpHandlers, 'files.stat' | 'files.get' | 'files.put' | 'upload.chunk'> = {
  'files.stat': async ({ ref, path }, { docker, signal }) => {
    const { Id } = await docker.inspectContainer(ref, signal)
    const target = await statTarget(docker, Id, containerPath(path), signal)
    return { type: target.type, name: target.name, size: target.type === 'file' ? target.size : 0 }
  },
  'files.get': (args, ctx) => download(args, ctx),
  'files.put': async (args, { docker, signal, agent }) => {
    try {
      return await unpackUpload(docker, agent.uploads.path(args.upload_id), args, signal)
    } finally {
      await agent.uploads.remove(args.upload_id)
    }
  },
  // Uploads feed files.put and upload deploys alike.
  'upload.chunk': async (args, { agent }) => ({ bytes: await agent.uploads.write(args) }),
}

/** An absolute container path, normalised, without a trailing slash (but `/`). */
export function containerPath(path: string): string {
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new OpError('validation_error', `the path "${path.slice(0, 200)}" is not an absolute path`)
  }
  const normal = posix.normalize(path)
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal
}

/** The kind of thing Docker's stat mode says a path is. */
export function typeOfMode(mode: number): 'file' | 'directory' | 'symlink' | 'other' {
  if ((mode & MODE_DIR) !== 0) return 'directory'
  if ((mode & MODE_SYMLINK) !== 0) return 'symlink'
  return (mode & MODE_TYPE) === 0 ? 'file' : 'other'
}

async function statTarget(docker: Docker, id: string, path: string, signal: AbortSignal): Promise<Target> {
  const found = await docker.statPath(id, path, signal)
  if (!found) throw new OpError('not_found', `nothing is at ${path} in the container`)
  const type = typeOfMode(found.mode)
  if (type !== 'symlink') return { type, name: found.name, size: found.size, path }
  // Docker resolves a symlink's target inside the container; a dangling one is "other".
  const target = found.linkTarget ? await docker.statPath(id, found.linkTarget, signal) : null
  const targetType = target ? typeOfMode(target.mode) : 'other'
  return {
    type: targetType === 'symlink' ? 'other' : targetType,
    name: found.name,
    size: target?.size ?? 0,
    path: target ? found.linkTarget : path,
  }
}

// ---------------------------------------------------------------- download

async function download(
  { ref, path, format }: OpArgs<'files.get'>,
  { docker, signal, emit }: StreamContext,
): Promise<Record<string, never>> {
  const { Id } = await docker.inspectContainer(ref, signal)
  const target = await statTarget(docker, Id, containerPath(path), signal)
  const out = chunked((piece) => emit('data', piece))
  if (format === 'raw') {
    if (target.type === 'directory') {
      throw new OpError('validation_error', `${path} is a directory; download it as tar or zip`)
    }
    if (!(await fileFrom(docker, Id, target.path, out.write, signal))) {
      throw new OpError('validation_error', `${path} is not a regular file`)
    }
  } else {
    // `/dir/.` makes Docker name the entries `./…`: the directory's contents, not the directory.
    const archived = target.type === 'directory' ? `${target.path === '/' ? '' : target.path}/.` : target.path
    const source = await docker.getArchive(Id, archived, signal)
    if (format === 'tar') {
      for await (const piece of source) await out.write(piece as Buffer)
    } else {
      const zip = new ZipWriter(out.write)
      await readTar(
        source,
        async (entry, body) => {
          const name = tarName(entry.name)
          if (name === '') return
          switch (entry.type) {
            case 'directory':
              return zip.directory(name, entry.mode, entry.mtime)
            case 'file':
              return zip.file(name, entry.mode, entry.mtime, body)
            case 'symlink':
              return zip.symlink(name, entry.linkname ?? '', entry.mode, entry.mtime)
            case 'link': {
              // A zip has no hard links: the file it names is written again under this name.
              const linked = posix.join(target.path, tarName(entry.linkname ?? ''))
              const copy = new PassPiece()
              await Promise.all([
                zip.file(name, entry.mode, entry.mtime, copy.readable),
                fileFrom(docker, Id, linked, copy.write, signal).finally(() => copy.end()),
              ])
              return
            }
            default:
              return
          }
        },
        signal,
      )
      await zip.finish()
    }
  }
  await out.flush()
  return {}
}

/** Writes the bytes of the regular file at `path` to `write`; false when it is not one. */
async function fileFrom(
  docker: Docker,
  id: string,
  path: string,
  write: (piece: Buffer) => Promise<void>,
  signal: AbortSignal,
): Promise<boolean> {
  let found = false
  await readTar(
    await docker.getArchive(id, path, signal),
    async (entry, body) => {
      if (found || entry.type !== 'file') return
      found = true
      for await (const piece of body) await write(piece as Buffer)
    },
    signal,
  )
  return found
}

/** A readable fed piece by piece, each write waiting until the reader took it. */
class PassPiece {
  readonly readable = new Readable({ read: () => this.wake?.() })
  private wake: (() => void) | null = null

  write = async (piece: Buffer): Promise<void> => {
    if (this.readable.push(piece)) return
    await new Promise<void>((resolve) => {
      this.wake = resolve
    })
    this.wake = null
  }

  end(): void {
    this.readable.push(null)
  }
}

/** Collects output into pieces of OUT_PIECE bytes before they go out. */
function chunked(send: (piece: Buffer) => Promise<void>) {
  let held: Buffer[] = []
  let size = 0
  const flush = async () => {
    if (size === 0) return
    const all = Buffer.concat(held)
    held = []
    size = 0
    for (let at = 0; at < all.length; at += OUT_PIECE) await send(all.subarray(at, at + OUT_PIECE))
  }
  return {
    write: async (piece: Buffer) => {
      held.push(piece)
      size += piece.length
      if (size >= OUT_PIECE) await flush()
    },
    flush,
  }
}

/** A tar entry's name without Docker's `./` and a directory's trailing slash. */
function tarName(name: string): string {
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/')
}

// ---------------------------------------------------------------- upload

/** A container's folder as the archive policy sees it, through Docker's stat of each path. */
function containerDestination(docker: Docker, id: string, root: string, signal: AbortSignal): Destination {
  return {
    root,
    label: root,
    existing: async (path) => {
      const found = await docker.statPath(id, posix.join(root, path), signal)
      if (!found) return null
      const type = typeOfMode(found.mode)
      return type === 'file' ? 'other' : type
    },
  }
}

async function unpackUpload(
  docker: Docker,
  file: string,
  args: OpArgs<'files.put'>,
  signal: AbortSignal,
): Promise<{ entries: number; bytes: number }> {
  const size = await stat(file).then(
    (info) => info.size,
    () => 0,
  )
  if (size !== args.bytes) {
    throw new OpError('validation_error', `the upload holds ${size} bytes, not the ${args.bytes} sent`)
  }
  if (size === 0) throw new OpError('validation_error', 'the upload is empty')
  const { Id } = await docker.inspectContainer(args.ref, signal)
  const root = containerPath(args.path)

  // Every entry is checked, and a zip's data with it, before anything is written.
  let policy: ArchivePolicy
  try {
    policy = await checkArchive(args.format, file, containerDestination(docker, Id, root, signal), signal)
  } catch (err) {
    if (err instanceof ArchiveRefused)
      throw new OpError('validation_error', err.message, undefined, 'archive_refused')
    if (err instanceof OpError || signal.aborted) throw err
    throw new OpError('validation_error', `the upload is not a readable ${args.format}: ${messageOf(err)}`)
  }

  const { base, missing } = await placeOf(docker, Id, root, signal)
  const prefix = missing.map((part) => `${part}/`).join('')
  const pack = tar.pack()
  const put = docker.putArchive(Id, base, pack, signal)
  const fill = (async () => {
    for (const [index] of missing.entries()) {
      await packEntry(pack, { name: missing.slice(0, index + 1).join('/'), type: 'directory', mode: 0o755 })
    }
    await readArchive(
      args.format,
      file,
      async (entry, body) => {
        const name = relativeName(entry.name, 'an entry')
        if (name === '') return
        const header: tar.Headers = {
          name: prefix + name,
          type: entry.type as 'file' | 'directory' | 'symlink',
          mode: entry.mode,
          mtime: entry.mtime,
          size: entry.size,
          uid: entry.uid ?? 0,
          gid: entry.gid ?? 0,
        }
        if (entry.type === 'symlink') header.linkname = entry.linkname ?? ''
        await packEntry(pack, header, entry.type === 'file' ? body : undefined)
      },
      signal,
    )
    pack.finalize()
  })()
  // Whichever side fails first stops the other.
  fill.catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))))
  put.catch(() => pack.destroy())
  await Promise.all([put, fill])
  return { entries: policy.entries, bytes: policy.bytes }
}

/** The deepest directory of `root` that exists, and the folders under it still to make. */
async function placeOf(
  docker: Docker,
  id: string,
  root: string,
  signal: AbortSignal,
): Promise<{ base: string; missing: string[] }> {
  const missing: string[] = []
  let base = root
  while (true) {
    const found = await docker.statPath(id, base, signal)
    if (found) {
      const type = typeOfMode(found.mode)
      const isDir =
        type === 'directory' ||
        (type === 'symlink' &&
          found.linkTarget !== '' &&
          typeOfMode((await docker.statPath(id, found.linkTarget, signal))?.mode ?? 0) === 'directory')
      if (!isDir) throw new OpError('validation_error', `${base} in the container is not a directory`)
      return { base, missing }
    }
    missing.unshift(posix.basename(base))
    base = posix.dirname(base)
  }
}

/** Adds an entry to a tar being written; a file's bytes come from `body`. */
function packEntry(pack: tar.Pack, header: tar.Headers, body?: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => {
      body?.destroy()
      reject(new Error('the archive stream to Docker closed'))
    }
    pack.once('close', closed)
    const sink = pack.entry(header, (err) => {
      pack.off('close', closed)
      if (err) reject(err)
      else resolve()
    })
    if (body) {
      body.once('error', reject)
      body.pipe(sink)
    }
  })
}
