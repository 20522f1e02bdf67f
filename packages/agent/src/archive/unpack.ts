import { constants } from 'node:fs'
import { type FileHandle, lstat, mkdir, open, rm, symlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  ArchivePolicy,
  DEFAULT_UNPACK_LIMITS,
  type Destination,
  type Existing,
  relativeName,
  type UnpackLimits,
} from './policy.ts'
import { type ArchiveFormat, readArchive } from './read.ts'

/**
 * Reads the whole archive through the policy, each body drained (a zip's CRCs checked with it):
 * an ArchiveRefused, or an error of the codec, comes before anything is written.
 */
export async function checkArchive(
  format: ArchiveFormat,
  file: string,
  destination: Destination,
  signal: AbortSignal,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<ArchivePolicy> {
  const policy = new ArchivePolicy(destination, limits)
  await readArchive(
    format,
    file,
    async (entry, body) => {
      policy.add(entry)
      for await (const _ of body);
    },
    signal,
  )
  await policy.finish()
  return policy
}

/**
 * Unpacks an archive into the host folder `dest`, which must not exist yet: the archive is
 * checked whole first, then written with opens that never follow a link nor reuse a name, so a
 * link swapped in meanwhile fails the write instead of redirecting it. On any failure `dest` is removed.
 */
export async function unpackArchive(
  format: ArchiveFormat,
  file: string,
  dest: string,
  signal: AbortSignal,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
): Promise<{ entries: number; bytes: number }> {
  const policy = await checkArchive(format, file, hostDestination(dest), signal, limits)
  await mkdir(dirname(dest), { recursive: true, mode: 0o700 })
  await mkdir(dest, { mode: 0o700 })
  try {
    await readArchive(
      format,
      file,
      async (entry, body) => {
        const name = relativeName(entry.name, 'an entry')
        if (name === '') return
        const target = join(dest, name)
        const parts = name.split('/')
        for (let i = 1; i < parts.length; i++) await folder(join(dest, ...parts.slice(0, i)), 0o755)
        const mode = entry.mode & 0o777
        switch (entry.type) {
          case 'directory':
            return folder(target, mode | 0o700)
          case 'file':
            return writeNew(target, mode | 0o600, body)
          case 'symlink':
            return symlink(entry.linkname ?? '', target)
          default:
            throw new Error(`the entry "${entry.name}" passed the archive policy as a ${entry.type}`)
        }
      },
      signal,
    )
  } catch (err) {
    await rm(dest, { recursive: true, force: true })
    throw err
  }
  return { entries: policy.entries, bytes: policy.bytes }
}

/** A host folder as the policy sees it: what is there, links not followed; absolute link targets refused. */
function hostDestination(dest: string): Destination {
  return {
    root: null,
    label: 'the upload',
    existing: async (path): Promise<Existing> => {
      const info = await lstat(join(dest, path)).catch(() => null)
      if (!info) return null
      return info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : 'other'
    },
  }
}

/** Makes the folder `path` unless it is one already; a link or file there fails. */
async function folder(path: string, mode: number): Promise<void> {
  try {
    await mkdir(path, { mode })
  } catch (err) {
    if (!isCode(err, 'EEXIST') || !(await lstat(path)).isDirectory()) throw err
  }
}

/** Writes `body` into a file made here: fails when anything, a link included, has the name. */
async function writeNew(path: string, mode: number, body: Readable): Promise<void> {
  const file = await open(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  )
  await pipeline(body, file.createWriteStream())
}

/**
 * Opens a host file of unpacked or cloned content, never through a link at its own name (its
 * folders are the caller's to have checked); `null` when it is missing or is a link.
 */
export async function openNoFollow(path: string, flags: number, mode = 0o644): Promise<FileHandle | null> {
  try {
    return await open(path, flags | constants.O_NOFOLLOW, mode)
  } catch (err) {
    if (isCode(err, 'ENOENT') || isCode(err, 'ELOOP')) return null
    throw err
  }
}

function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code
}
