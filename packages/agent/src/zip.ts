import { once } from 'node:events'
import { type Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { promisify } from 'node:util'
import { crc32 } from 'node:zlib'
import yauzl from 'yauzl'
import type { FileDataInput } from 'zip-stream'

// Zip by yauzl (reading, zip64 included) and zip-stream (writing, zip64 where sizes or counts need it).
// What an archive may contain is archive/policy.ts's to decide; this only reads and writes entries.

/** A zip that cannot be read. */
export class ZipError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ZipError'
  }
}

const STORED = 0
const DEFLATED = 8
const HOST_UNIX = 3
const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000
const S_IFREG = 0o100000
/** A symlink's target is its entry's data; longer than a path can be is not a symlink. */
const MAX_LINK_BYTES = 4096

export interface ZipEntry {
  /** As stored, with `\` read as `/`; a directory's ends with `/`. */
  name: string
  /** `other`: a device, FIFO or socket by its Unix mode. */
  type: 'file' | 'directory' | 'symlink' | 'other'
  /** Permission bits; a default when the zip was not made on Unix. */
  mode: number
  mtime: Date
  /** Bytes once unpacked. */
  size: number
  /** A symlink's target. */
  linkname?: string
}

const openZip = promisify<string, yauzl.Options, yauzl.ZipFile>(yauzl.open)

/** A zip file on disk, read through its central directory. */
export class ZipReader {
  readonly entries: readonly ZipEntry[]

  private constructor(
    private readonly zip: yauzl.ZipFile,
    private readonly located: Map<ZipEntry, yauzl.Entry>,
  ) {
    this.entries = [...located.keys()]
  }

  /** Reads the central directory of the zip at `path`; a ZipError when it is not a zip this reads. */
  static async open(path: string): Promise<ZipReader> {
    let zip: yauzl.ZipFile
    try {
      // Names stay raw so that archive/policy.ts, not the reader, judges `..` and absolute paths.
      zip = await openZip(path, { lazyEntries: true, autoClose: false, decodeStrings: false })
    } catch (err) {
      throw new ZipError(`it is not a zip file this reads (${messageOf(err)})`)
    }
    try {
      const raw = await entriesOf(zip)
      const reader = new ZipReader(zip, new Map(raw.map((entry) => [entryOf(entry), entry])))
      for (const entry of reader.entries) {
        if (entry.type === 'symlink') entry.linkname = (await reader.readAll(entry)).toString('utf8')
      }
      return reader
    } catch (err) {
      zip.close()
      throw err
    }
  }

  /** An entry's bytes, unpacked; the stream fails when its size or CRC is not what the zip says. */
  async body(entry: ZipEntry): Promise<Readable> {
    const raw = this.located.get(entry)
    if (!raw) throw new ZipError(`"${entry.name}" is not an entry of this zip`)
    const openStream = promisify<yauzl.Entry, Readable>(this.zip.openReadStream.bind(this.zip))
    let source: Readable
    try {
      source = await openStream(raw)
    } catch (err) {
      throw new ZipError(`the entry "${entry.name}" cannot be read (${messageOf(err)})`)
    }
    const checked = checkedAs(entry.name, raw)
    pipeline(source, checked).catch((err: unknown) => checked.destroy(asZipError(entry.name, err)))
    return checked
  }

  async close(): Promise<void> {
    this.zip.close()
  }

  private async readAll(entry: ZipEntry): Promise<Buffer> {
    if (entry.size > MAX_LINK_BYTES) throw new ZipError(`the symlink "${entry.name}" is too long`)
    const parts: Buffer[] = []
    for await (const part of await this.body(entry)) parts.push(part as Buffer)
    return Buffer.concat(parts)
  }
}

function entriesOf(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  const entries: yauzl.Entry[] = []
  return new Promise((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry)
      zip.readEntry()
    })
    zip.once('end', () => resolve(entries))
    zip.once('error', (err: unknown) =>
      reject(new ZipError(`its central directory is damaged (${messageOf(err)})`)),
    )
    zip.readEntry()
  })
}

function entryOf(raw: yauzl.Entry): ZipEntry {
  const name = (raw.fileName as unknown as Buffer).toString('utf8').replaceAll('\\', '/')
  if (raw.isEncrypted()) throw new ZipError(`the entry "${name}" is encrypted`)
  if (raw.compressionMethod !== STORED && raw.compressionMethod !== DEFLATED) {
    throw new ZipError(
      `the entry "${name}" uses compression method ${raw.compressionMethod}; only stored and deflated are read`,
    )
  }
  const unixMode = raw.versionMadeBy >> 8 === HOST_UNIX ? raw.externalFileAttributes >>> 16 : 0
  const format = unixMode & S_IFMT
  const type =
    name.endsWith('/') || format === S_IFDIR
      ? 'directory'
      : format === S_IFLNK
        ? 'symlink'
        : format === 0 || format === S_IFREG
          ? 'file'
          : 'other'
  const permissions = unixMode & 0o7777
  return {
    name,
    type,
    mode: permissions || (type === 'directory' ? 0o755 : 0o644),
    mtime: raw.getLastModDate({ forceDosFormat: true }),
    size: raw.uncompressedSize,
  }
}

/** Passes an entry's bytes on, failing at the end when their CRC is not the directory's (yauzl checks the size). */
function checkedAs(name: string, raw: yauzl.Entry): Transform {
  let crc = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      crc = crc32(chunk, crc)
      done(null, chunk)
    },
    flush(done) {
      if (crc !== raw.crc32) return done(new ZipError(`the entry "${name}" is damaged (CRC mismatch)`))
      done()
    },
  })
}

function asZipError(name: string, err: unknown): Error {
  return err instanceof ZipError ? err : new ZipError(`the entry "${name}" is damaged (${messageOf(err)})`)
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err))

/**
 * Writes a zip as a stream: each piece goes to `write`, which may wait (backpressure). Files are
 * deflated, directories and symlinks stored; past 4 GiB or 65,535 entries zip-stream writes zip64.
 * Each entry resolves once it is in the zip, so that the next entry's source may follow.
 */
export class ZipWriter {
  // Loaded on the first zip: zip-stream and its dependencies stay out of an idle agent's memory.
  // A DOS time in a zip is local time, as unzip and Python read it.
  private readonly zip = import('zip-stream').then(
    ({ default: ZipStream }) => new ZipStream({ forceLocalTime: true }),
  )
  /** Settles when the last piece is written; rejects when writing or zipping fails. */
  private readonly written: Promise<void>

  constructor(write: (piece: Buffer) => Promise<void>) {
    this.written = (async () => {
      for await (const piece of (await this.zip) as unknown as Readable) await write(piece as Buffer)
    })()
    // Whoever waits on an entry hears of a failure; this keeps it from going unhandled meanwhile.
    this.written.catch(() => {})
  }

  directory(name: string, mode: number, mtime: Date): Promise<void> {
    const dirName = name.endsWith('/') ? name : `${name}/`
    return this.add(null, { name: dirName, type: 'directory', mode: mode & 0o7777, date: mtime })
  }

  symlink(name: string, target: string, mode: number, mtime: Date): Promise<void> {
    return this.add(null, {
      name,
      type: 'symlink',
      linkname: target,
      mode: mode & 0o7777 || 0o777,
      date: mtime,
    })
  }

  file(name: string, mode: number, mtime: Date, body: Readable): Promise<void> {
    return this.add(body, { name, type: 'file', mode: mode & 0o7777, date: mtime })
  }

  /** Writes the central directory; nothing may be added after. */
  async finish(): Promise<void> {
    const zip = (await this.zip) as unknown as CentralDirectoryWriter
    // A write that fails stops the output; the directory waiting for it to drain would never end.
    await Promise.race([writeCentralDirectory(zip), this.written])
    await this.written
  }

  private add(source: Readable | null, entry: FileDataInput): Promise<void> {
    const added = this.zip.then(
      (zip) =>
        new Promise<void>((resolve, reject) => {
          zip.entry(source, entry, (err) => (err ? reject(err) : resolve()))
        }),
    )
    // A write that fails stops the zip's output; the entry waiting on it would never end.
    return Promise.race([added, this.written.then(() => added)])
  }
}

/** The parts of compress-commons' ZipArchiveOutputStream (zip-stream's base) that end a zip. */
interface CentralDirectoryWriter {
  offset: number
  writableNeedDrain: boolean
  _entries: unknown[]
  _archive: { centralOffset: number; centralLength: number; finish: boolean; finished: boolean }
  _writeCentralFileHeader(entry: unknown): void
  _writeCentralDirectoryZip64(): void
  _writeCentralDirectoryEnd(): void
  isZip64(): boolean
  end(): void
}

/** Directory records written per turn of the event loop: a few milliseconds of work each. */
const RECORDS_PER_SLICE = 250

/**
 * zip-stream's finalize, in slices: it writes every directory record in one go, which at 65,000
 * entries holds the agent's event loop (and its heartbeats) for seconds.
 */
async function writeCentralDirectory(zip: CentralDirectoryWriter): Promise<void> {
  const archive = zip._archive
  archive.finish = true
  archive.centralOffset = zip.offset
  for (let first = 0; first < zip._entries.length; first += RECORDS_PER_SLICE) {
    for (const entry of zip._entries.slice(first, first + RECORDS_PER_SLICE)) {
      zip._writeCentralFileHeader(entry)
    }
    if (zip.writableNeedDrain) await once(zip as unknown as NodeJS.EventEmitter, 'drain')
    // A drain can come within the same turn; only a macrotask lets heartbeats and sockets in.
    await nextTurn()
  }
  archive.centralLength = zip.offset - archive.centralOffset
  if (zip.isZip64()) zip._writeCentralDirectoryZip64()
  zip._writeCentralDirectoryEnd()
  archive.finished = true
  zip.end()
}
