import { createReadStream } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { PassThrough, type Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createDeflateRaw, createInflateRaw } from 'node:zlib'

// Zip without zip64: a reader over the central directory (stored and deflated entries) and a
// streaming writer (deflated files with data descriptors). Zip64 archives are refused clearly.

/** A zip that cannot be read, or cannot be written without zip64. */
export class ZipError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ZipError'
  }
}

const CRC_TABLE = new Int32Array(256).map((_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c
})

/** CRC-32 (the zip polynomial) of `data`, continuing from `crc`; zlib.crc32 needs Node 20.15. */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}

const SIG = {
  local: 0x04034b50,
  central: 0x02014b50,
  end: 0x06054b50,
  zip64Locator: 0x07064b50,
  descriptor: 0x08074b50,
} as const
const FLAG_ENCRYPTED = 0x0001
const FLAG_DESCRIPTOR = 0x0008
const FLAG_UTF8 = 0x0800
const STORED = 0
const DEFLATED = 8
const HOST_UNIX = 3
const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000
const S_IFREG = 0o100000
const MAX_U32 = 0xffffffff
const MAX_U16 = 0xffff
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

interface Located extends ZipEntry {
  method: number
  crc: number
  compressedSize: number
  localOffset: number
}

/** A zip file on disk, read through its central directory. */
export class ZipReader {
  private constructor(
    private readonly path: string,
    private readonly file: FileHandle,
    readonly entries: readonly ZipEntry[],
  ) {}

  /** Reads the central directory of the zip at `path`; a ZipError when it is not a zip this reads. */
  static async open(path: string): Promise<ZipReader> {
    const file = await open(path, 'r')
    try {
      const located = await centralDirectory(file)
      const reader = new ZipReader(path, file, located)
      for (const entry of located) {
        if (entry.type === 'symlink') entry.linkname = (await reader.readAll(entry)).toString('utf8')
      }
      return reader
    } catch (err) {
      await file.close()
      throw err
    }
  }

  /** An entry's bytes, unpacked; the stream fails when its size or CRC is not what the zip says. */
  async body(entry: ZipEntry): Promise<Readable> {
    const e = entry as Located
    const start = await this.dataOffset(e)
    const raw =
      e.compressedSize === 0
        ? new PassThrough().end()
        : createReadStream(this.path, { start, end: start + e.compressedSize - 1 })
    const checked = checkedAs(e)
    const stages = e.method === STORED ? pipeline(raw, checked) : pipeline(raw, createInflateRaw(), checked)
    stages.catch((err: unknown) => checked.destroy(asError(err)))
    return checked
  }

  close(): Promise<void> {
    return this.file.close()
  }

  private async readAll(entry: ZipEntry): Promise<Buffer> {
    if (entry.size > MAX_LINK_BYTES) throw new ZipError(`the symlink "${entry.name}" is too long`)
    const parts: Buffer[] = []
    for await (const part of await this.body(entry)) parts.push(part as Buffer)
    return Buffer.concat(parts)
  }

  private async dataOffset(e: Located): Promise<number> {
    const header = await readAt(this.file, e.localOffset, 30)
    if (header.readUInt32LE(0) !== SIG.local) throw new ZipError(`the entry "${e.name}" has no local header`)
    return e.localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28)
  }
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length)
  const { bytesRead } = await file.read(buffer, 0, length, position)
  if (bytesRead < length) throw new ZipError('the zip ends too early')
  return buffer
}

async function centralDirectory(file: FileHandle): Promise<Located[]> {
  const { size } = await file.stat()
  // The end record (22 bytes) is followed by a comment of at most 65535 bytes.
  const tailLength = Math.min(size, 22 + MAX_U16)
  if (tailLength < 22) throw new ZipError('it is not a zip file')
  const tail = await readAt(file, size - tailLength, tailLength)
  let end = -1
  for (let at = tailLength - 22; at >= 0; at--) {
    if (tail.readUInt32LE(at) === SIG.end && at + 22 + tail.readUInt16LE(at + 20) <= tailLength) {
      end = at
      break
    }
  }
  if (end === -1) throw new ZipError('it is not a zip file (no end of central directory)')
  const count = tail.readUInt16LE(end + 10)
  const cdSize = tail.readUInt32LE(end + 12)
  const cdOffset = tail.readUInt32LE(end + 16)
  const zip64 = end >= 20 && tail.readUInt32LE(end - 20) === SIG.zip64Locator
  if (zip64 || count === MAX_U16 || cdSize === MAX_U32 || cdOffset === MAX_U32) {
    throw new ZipError('zip64 archives are not supported; send a tar instead')
  }
  if (tail.readUInt16LE(end + 4) !== 0 || tail.readUInt16LE(end + 6) !== 0) {
    throw new ZipError('multi-part zip archives are not supported')
  }
  if (cdOffset + cdSize > size) throw new ZipError('its central directory lies outside the file')
  const cd = await readAt(file, cdOffset, cdSize)
  const entries: Located[] = []
  let at = 0
  for (let i = 0; i < count; i++) {
    if (at + 46 > cd.length || cd.readUInt32LE(at) !== SIG.central) {
      throw new ZipError('its central directory is damaged')
    }
    const madeBy = cd.readUInt16LE(at + 4)
    const flags = cd.readUInt16LE(at + 8)
    const method = cd.readUInt16LE(at + 10)
    const nameLength = cd.readUInt16LE(at + 28)
    const next = at + 46 + nameLength + cd.readUInt16LE(at + 30) + cd.readUInt16LE(at + 32)
    if (next > cd.length) throw new ZipError('its central directory is damaged')
    const name = cd.toString('utf8', at + 46, at + 46 + nameLength).replaceAll('\\', '/')
    if (flags & FLAG_ENCRYPTED) throw new ZipError(`the entry "${name}" is encrypted`)
    if (method !== STORED && method !== DEFLATED) {
      throw new ZipError(
        `the entry "${name}" uses compression method ${method}; only stored and deflated are read`,
      )
    }
    const unixMode = madeBy >> 8 === HOST_UNIX ? cd.readUInt32LE(at + 38) >>> 16 : 0
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
    entries.push({
      name,
      type,
      mode: permissions || (type === 'directory' ? 0o755 : 0o644),
      mtime: fromDos(cd.readUInt16LE(at + 14), cd.readUInt16LE(at + 12)),
      size: cd.readUInt32LE(at + 24),
      method,
      crc: cd.readUInt32LE(at + 16),
      compressedSize: cd.readUInt32LE(at + 20),
      localOffset: cd.readUInt32LE(at + 42),
    })
    at = next
  }
  return entries
}

/** Passes an entry's bytes on, failing at the end when their size or CRC is not the directory's. */
function checkedAs(e: Located): Transform {
  let crc = 0
  let size = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      crc = crc32(chunk, crc)
      size += chunk.length
      if (size > e.size)
        return done(new ZipError(`the entry "${e.name}" holds more than its ${e.size} bytes`))
      done(null, chunk)
    },
    flush(done) {
      if (size !== e.size)
        return done(new ZipError(`the entry "${e.name}" holds ${size} bytes, not ${e.size}`))
      if (crc !== e.crc) return done(new ZipError(`the entry "${e.name}" is damaged (CRC mismatch)`))
      done()
    },
  })
}

function fromDos(date: number, time: number): Date {
  return new Date(
    1980 + (date >> 9),
    ((date >> 5) & 0xf) - 1,
    date & 0x1f,
    time >> 11,
    (time >> 5) & 0x3f,
    (time & 0x1f) * 2,
  )
}

function toDos(at: Date): { date: number; time: number } {
  const year = Math.min(Math.max(at.getFullYear(), 1980), 2107)
  return {
    date: ((year - 1980) << 9) | ((at.getMonth() + 1) << 5) | at.getDate(),
    time: (at.getHours() << 11) | (at.getMinutes() << 5) | (at.getSeconds() >> 1),
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

interface Written {
  name: Buffer
  flags: number
  method: number
  dos: { date: number; time: number }
  crc: number
  compressedSize: number
  size: number
  externalAttrs: number
  offset: number
}

/**
 * Writes a zip as a stream: each piece goes to `write`, which may wait (backpressure). Files are
 * deflated with their CRC and sizes in a data descriptor after them; directories and symlinks
 * are stored. Anything that needs zip64 (4 GiB, 65535 entries) is a ZipError.
 */
export class ZipWriter {
  private offset = 0
  private readonly written: Written[] = []

  constructor(private readonly write: (piece: Buffer) => Promise<void>) {}

  async directory(name: string, mode: number, mtime: Date): Promise<void> {
    const dirName = name.endsWith('/') ? name : `${name}/`
    await this.stored(dirName, Buffer.alloc(0), (S_IFDIR | (mode & 0o7777)) * 0x10000 + 0x10, mtime)
  }

  async symlink(name: string, target: string, mode: number, mtime: Date): Promise<void> {
    await this.stored(
      name,
      Buffer.from(target, 'utf8'),
      (S_IFLNK | (mode & 0o7777 || 0o777)) * 0x10000,
      mtime,
    )
  }

  async file(name: string, mode: number, mtime: Date, body: Readable): Promise<void> {
    const entry = this.begin(
      name,
      FLAG_UTF8 | FLAG_DESCRIPTOR,
      DEFLATED,
      mtime,
      (S_IFREG | (mode & 0o7777)) * 0x10000,
    )
    await this.emit(localHeader(entry))
    let crc = 0
    let size = 0
    let compressedSize = 0
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        crc = crc32(chunk, crc)
        size += chunk.length
        done(null, chunk)
      },
    })
    await pipeline(body, measure, createDeflateRaw(), async (source: AsyncIterable<Buffer>) => {
      for await (const piece of source) {
        compressedSize += piece.length
        await this.emit(piece)
      }
    })
    if (size > MAX_U32 || compressedSize > MAX_U32) {
      throw new ZipError(`"${name}" is larger than a zip without zip64 holds; download it as tar`)
    }
    Object.assign(entry, { crc, size, compressedSize })
    const descriptor = Buffer.alloc(16)
    descriptor.writeUInt32LE(SIG.descriptor, 0)
    descriptor.writeUInt32LE(crc, 4)
    descriptor.writeUInt32LE(compressedSize, 8)
    descriptor.writeUInt32LE(size, 12)
    await this.emit(descriptor)
  }

  /** Writes the central directory; nothing may be added after. */
  async finish(): Promise<void> {
    const cdOffset = this.offset
    for (const e of this.written) {
      const record = Buffer.alloc(46)
      record.writeUInt32LE(SIG.central, 0)
      record.writeUInt16LE((HOST_UNIX << 8) | 20, 4)
      record.writeUInt16LE(20, 6)
      record.writeUInt16LE(e.flags, 8)
      record.writeUInt16LE(e.method, 10)
      record.writeUInt16LE(e.dos.time, 12)
      record.writeUInt16LE(e.dos.date, 14)
      record.writeUInt32LE(e.crc, 16)
      record.writeUInt32LE(e.compressedSize, 20)
      record.writeUInt32LE(e.size, 24)
      record.writeUInt16LE(e.name.length, 28)
      record.writeUInt32LE(e.externalAttrs >>> 0, 38)
      record.writeUInt32LE(e.offset, 42)
      await this.emit(Buffer.concat([record, e.name]))
    }
    const cdSize = this.offset - cdOffset
    if (this.offset > MAX_U32) throw new ZipError('the zip would be larger than 4 GiB; download it as tar')
    const end = Buffer.alloc(22)
    end.writeUInt32LE(SIG.end, 0)
    end.writeUInt16LE(this.written.length, 8)
    end.writeUInt16LE(this.written.length, 10)
    end.writeUInt32LE(cdSize, 12)
    end.writeUInt32LE(cdOffset, 16)
    await this.emit(end)
  }

  private async stored(name: string, data: Buffer, externalAttrs: number, mtime: Date): Promise<void> {
    const entry = this.begin(name, FLAG_UTF8, STORED, mtime, externalAttrs)
    Object.assign(entry, { crc: crc32(data), size: data.length, compressedSize: data.length })
    await this.emit(localHeader(entry))
    if (data.length > 0) await this.emit(data)
  }

  private begin(name: string, flags: number, method: number, mtime: Date, externalAttrs: number): Written {
    if (this.written.length >= MAX_U16)
      throw new ZipError('more than 65535 entries need zip64; download it as tar')
    if (this.offset > MAX_U32) throw new ZipError('the zip would be larger than 4 GiB; download it as tar')
    const entry: Written = {
      name: Buffer.from(name, 'utf8'),
      flags,
      method,
      dos: toDos(mtime),
      crc: 0,
      compressedSize: 0,
      size: 0,
      externalAttrs,
      offset: this.offset,
    }
    if (entry.name.length > MAX_U16)
      throw new ZipError(`the name "${name.slice(0, 100)}…" is too long for a zip`)
    this.written.push(entry)
    return entry
  }

  private async emit(piece: Buffer): Promise<void> {
    this.offset += piece.length
    await this.write(piece)
  }
}

function localHeader(e: Written): Buffer {
  const header = Buffer.alloc(30)
  header.writeUInt32LE(SIG.local, 0)
  header.writeUInt16LE(20, 4)
  header.writeUInt16LE(e.flags, 6)
  header.writeUInt16LE(e.method, 8)
  header.writeUInt16LE(e.dos.time, 10)
  header.writeUInt16LE(e.dos.date, 12)
  // With a data descriptor these stay 0 here and follow the data.
  header.writeUInt32LE(e.crc, 14)
  header.writeUInt32LE(e.compressedSize, 18)
  header.writeUInt32LE(e.size, 22)
  header.writeUInt16LE(e.name.length, 26)
  return Buffer.concat([header, e.name])
}
