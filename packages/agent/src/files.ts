import { createReadStream } from 'node:fs'
import { open, rm, stat } from 'node:fs/promises'
import { posix } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import type { OpArgs } from '@berth/shared'
import tar from 'tar-stream'
import { uploadsDir } from './deploy/run.ts'
import { DEFAULT_UNPACK_LIMITS, type UnpackLimits, uploadPath } from './deploy/upload.ts'
import type { Docker } from './docker.ts'
import { OpError } from './errors.ts'
import { messageOf } from './log.ts'
import type { OpHandlers, StreamContext } from './ops.ts'
import { ZipReader, ZipWriter } from './zip.ts'

// Files in containers: stat, download (a file as is, a directory as tar or zip), and unpacking
// an uploaded tar or zip, confined to the directory it is unpacked into.

/** One entry of an archive, tar or zip alike. */
export interface ArchiveEntry {
  name: string
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other'
  mode: number
  mtime: Date
  /** A file's bytes; 0 for anything else. */
  size: number
  /** A symlink's target, or the archive path a hard link names. */
  linkname?: string
  uid?: number
  gid?: number
}

type EntryHandler = (entry: ArchiveEntry, body: Readable) => Promise<void>

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

export const fileOps: Pick<OpHandlers, 'files.stat' | 'files.get' | 'files.put'> = {
  'files.stat': async ({ ref, path }, { docker, signal }) => {
    const { Id } = await docker.inspectContainer(ref, signal)
    const target = await statTarget(docker, Id, containerPath(path), signal)
    return { type: target.type, name: target.name, size: target.type === 'file' ? target.size : 0 }
  },
  'files.get': (args, ctx) => download(args, ctx),
  'files.put': async (args, { docker, signal, agent }) => {
    if (!agent.apps)
      throw new OpError('agent_error', 'this agent was started without a work folder for uploads')
    const file = uploadPath(uploadsDir(agent.apps.workDir), args.upload_id)
    try {
      return await unpackUpload(docker, file, args, signal)
    } finally {
      await rm(file, { force: true })
    }
  },
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

// ---------------------------------------------------------------- reading archives

/** Calls `onEntry` for each entry of a tar stream, in order; the body is drained after it. */
export async function readTar(source: Readable, onEntry: EntryHandler, signal: AbortSignal): Promise<void> {
  const extract = tar.extract()
  extract.on('entry', (header, body, next) => {
    onEntry(entryOf(header), body).then(
      () => {
        body.resume()
        next()
      },
      (err: unknown) => extract.destroy(err instanceof Error ? err : new Error(String(err))),
    )
  })
  await pipeline(source, extract, { signal })
}

function entryOf(header: tar.Headers): ArchiveEntry {
  const type =
    header.type === 'file' || header.type === 'contiguous-file'
      ? 'file'
      : header.type === 'directory' || header.type === 'symlink' || header.type === 'link'
        ? header.type
        : 'other'
  return {
    name: header.name,
    type,
    mode: (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o7777,
    mtime: header.mtime ?? new Date(),
    size: type === 'file' ? (header.size ?? 0) : 0,
    ...(header.linkname ? { linkname: header.linkname } : {}),
    ...(header.uid !== undefined ? { uid: header.uid } : {}),
    ...(header.gid !== undefined ? { gid: header.gid } : {}),
  }
}

/** Reads an uploaded tar (gzipped or not) or zip file, entry by entry. */
async function readUpload(
  format: 'tar' | 'zip',
  file: string,
  onEntry: EntryHandler,
  signal: AbortSignal,
): Promise<void> {
  if (format === 'tar') {
    const source = createReadStream(file)
    if (await isGzip(file)) await readTar(source.pipe(createGunzip()), onEntry, signal)
    else await readTar(source, onEntry, signal)
    return
  }
  const zip = await ZipReader.open(file)
  try {
    for (const entry of zip.entries) {
      signal.throwIfAborted()
      await onEntry(entry, entry.type === 'file' ? await zip.body(entry) : Readable.from([]))
    }
  } finally {
    await zip.close()
  }
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r')
  try {
    const head = Buffer.alloc(2)
    await handle.read(head, 0, 2, 0)
    return head[0] === 0x1f && head[1] === 0x8b
  } finally {
    await handle.close()
  }
}

// ---------------------------------------------------------------- the path checks

function refused(why: string): OpError {
  return new OpError('validation_error', `the upload was refused: ${why}`)
}

/**
 * Checks an archive's entries, in their order, against the directory `root` (absolute and
 * normal) they unpack into: an absolute name, a `..` component, an entry under a symlink of the
 * archive, or a symlink or hard link leading outside `root` refuses the whole archive.
 */
export class EntryGuard {
  /** Entries counted so far, the root itself left out. */
  entries = 0
  /** Bytes of the files so far. */
  bytes = 0
  private readonly symlinks = new Set<string>()

  constructor(
    private readonly root: string,
    private readonly limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
  ) {}

  /** The entry's path relative to the root, `''` for the root itself; an OpError when it is refused. */
  check(entry: ArchiveEntry): string {
    const name = relativeName(entry.name, `the entry "${entry.name}"`)
    const through = this.throughSymlink(name)
    if (through !== undefined) throw refused(`the entry "${entry.name}" lies under the symlink "${through}"`)
    if (name === '') {
      if (entry.type !== 'directory')
        throw refused(`the entry "${entry.name}" names the root as a non-directory`)
      return name
    }
    if (++this.entries > this.limits.maxEntries)
      throw refused(`it has more than ${this.limits.maxEntries} entries`)
    switch (entry.type) {
      case 'directory':
        break
      case 'file':
        this.bytes += entry.size
        if (this.bytes > this.limits.maxBytes)
          throw refused(`it unpacks to more than ${this.limits.maxBytes} bytes`)
        break
      case 'symlink': {
        const target = entry.linkname ?? ''
        if (!symlinkStaysInside(this.root, name, target)) {
          throw refused(`the symlink "${entry.name}" points outside ${this.root}, to "${target}"`)
        }
        this.symlinks.add(name)
        break
      }
      case 'link': {
        const what = `the hard link "${entry.name}" to "${entry.linkname ?? ''}"`
        const linked = relativeName(entry.linkname ?? '', what)
        if (linked === '' || this.throughSymlink(linked) !== undefined || this.symlinks.has(linked)) {
          throw refused(`${what} does not name a file inside ${this.root}`)
        }
        break
      }
      default:
        throw refused(`the entry "${entry.name}" is a device or FIFO`)
    }
    return name
  }

  private throughSymlink(name: string): string | undefined {
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/')
      if (this.symlinks.has(parent)) return parent
    }
    return undefined
  }
}

/** A name relative to the archive's root, `./` and empty parts dropped; absolute and `..` are refused. */
export function relativeName(name: string, what: string): string {
  if (name.includes('\0')) throw refused(`${what} holds a NUL byte`)
  if (name.startsWith('/')) throw refused(`${what} is an absolute path`)
  const parts = name.split('/').filter((part) => part !== '' && part !== '.')
  if (parts.includes('..')) throw refused(`${what} has a ".." component`)
  return parts.join('/')
}

/**
 * Whether a symlink at `name` (relative to `root`) pointing to `target` leads inside `root`. A
 * relative target may climb with leading `..` only as far as the link's own depth and never
 * after a name (a name may be a symlink itself); an absolute one must lie under `root`.
 */
export function symlinkStaysInside(root: string, name: string, target: string): boolean {
  if (target === '' || target.includes('\0')) return false
  const parts = target.split('/').filter((part) => part !== '' && part !== '.')
  if (target.startsWith('/')) {
    if (parts.includes('..')) return false
    const absolute = `/${parts.join('/')}`
    return root === '/' || absolute === root || absolute.startsWith(`${root}/`)
  }
  let climbs = 0
  while (parts[climbs] === '..') climbs++
  if (parts.slice(climbs).includes('..')) return false
  return climbs <= name.split('/').length - 1
}

// ---------------------------------------------------------------- upload

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
  const guard = new EntryGuard(root)
  try {
    await readUpload(
      args.format,
      file,
      async (entry, body) => {
        guard.check(entry)
        for await (const _ of body);
      },
      signal,
    )
  } catch (err) {
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
    await readUpload(
      args.format,
      file,
      async (entry, body) => {
        const name = relativeName(entry.name, 'an entry')
        if (name === '') return
        const header: tar.Headers = {
          name: prefix + name,
          type: entry.type === 'other' ? 'file' : entry.type,
          mode: entry.mode,
          mtime: entry.mtime,
          size: entry.size,
          uid: entry.uid ?? 0,
          gid: entry.gid ?? 0,
        }
        if (entry.type === 'symlink') header.linkname = entry.linkname ?? ''
        if (entry.type === 'link') header.linkname = prefix + relativeName(entry.linkname ?? '', 'a link')
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
  return { entries: guard.entries, bytes: guard.bytes }
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
