import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import { ZipReader } from '../zip.ts'

/** One entry of an archive, tar or zip alike; a tar's pax and GNU long names already decoded. */
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

export type EntryHandler = (entry: ArchiveEntry, body: Readable) => Promise<void>

export type ArchiveFormat = 'tar' | 'zip'

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

/** Reads an archive file, a tar (gzipped or not) or a zip, entry by entry. */
export async function readArchive(
  format: ArchiveFormat,
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
