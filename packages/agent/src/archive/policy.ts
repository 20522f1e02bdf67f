import { posix } from 'node:path'
import type { ArchiveEntry } from './read.ts'

// What an archive may hold, decided over the whole archive before anything of it is written.
// Paths are resolved one component at a time as the kernel would, through the links the archive
// makes and the links already at the destination; nothing is written through a link.

export interface UnpackLimits {
  /** Bytes of all files together, unpacked. */
  maxBytes: number
  maxEntries: number
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxBytes: 2 * 1024 ** 3, maxEntries: 100_000 }

/** Symlinks followed in one resolution before it counts as a loop, as Linux's MAXSYMLINKS. */
const MAX_HOPS = 40
/** A link target longer than a path can be (PATH_MAX) is no path. */
const MAX_TARGET_BYTES = 4096

/** An archive the policy refuses; nothing of it has been written. */
export class ArchiveRefused extends Error {
  constructor(why: string) {
    super(`the upload was refused: ${why}`)
    this.name = 'ArchiveRefused'
  }
}

/** What is already at a path of the destination, the path's own link not followed. */
export type Existing = 'directory' | 'symlink' | 'other' | null

/** Where an archive is unpacked. */
export interface Destination {
  /** The absolute path that absolute link targets are read against; null refuses them (a host folder that moves). */
  root: string | null
  /** Names the destination in messages. */
  label: string
  /** What is at `path` (relative, its parents real folders) before the archive is unpacked. */
  existing(path: string): Promise<Existing>
}

type Node = { type: 'directory' } | { type: 'file' } | { type: 'symlink'; target: string }

/**
 * The entries of one archive, checked as they come (`add`) and over the whole archive
 * (`finish`): hard links, devices and FIFOs, absolute names, `..`, an entry under a link or a
 * file, a name given twice (but a folder), and a link leading outside the destination are refused.
 */
export class ArchivePolicy {
  /** Entries counted so far, the root itself left out. */
  entries = 0
  /** Bytes of the files so far. */
  bytes = 0
  private readonly nodes = new Map<string, Node>()
  private readonly seen = new Map<string, Existing>()

  constructor(
    private readonly destination: Destination,
    private readonly limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
  ) {}

  /** The entry's path relative to the destination, `''` for its root; an ArchiveRefused when it is refused. */
  add(entry: ArchiveEntry): string {
    const name = relativeName(entry.name, `the entry "${entry.name}"`)
    if (name === '') {
      if (entry.type !== 'directory')
        throw new ArchiveRefused(`the entry "${entry.name}" names the root as a non-directory`)
      return name
    }
    if (++this.entries > this.limits.maxEntries)
      throw new ArchiveRefused(`it has more than ${this.limits.maxEntries} entries`)
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/')
      const node = this.nodes.get(parent)
      if (node === undefined) this.nodes.set(parent, { type: 'directory' })
      else if (node.type === 'symlink')
        throw new ArchiveRefused(`the entry "${entry.name}" lies under the symlink "${parent}"`)
      else if (node.type === 'file')
        throw new ArchiveRefused(`the entry "${entry.name}" lies under the file "${parent}"`)
    }
    const node = nodeOf(entry)
    // What leads out before any link is followed is refused at once; the rest waits for `finish`.
    if (node.type === 'symlink') this.climbsOut(name, node.target)
    const before = this.nodes.get(name)
    if (before !== undefined && !(before.type === 'directory' && node.type === 'directory')) {
      throw new ArchiveRefused(`the entry "${entry.name}" appears twice`)
    }
    if (node.type === 'file') {
      this.bytes += entry.size
      if (this.bytes > this.limits.maxBytes)
        throw new ArchiveRefused(`it unpacks to more than ${this.limits.maxBytes} bytes`)
    }
    this.nodes.set(name, node)
    return name
  }

  /** Checks what only the whole archive and the destination tell: where each link leads, what it lands on. */
  async finish(): Promise<void> {
    for (const [name, node] of [...this.nodes].sort(([a], [b]) => depth(a) - depth(b))) {
      // A file replaces what has its name, link or file, without writing through it; not asked.
      if (node.type === 'file') continue
      const there = await this.existing(name)
      if (there === null) continue
      if (node.type === 'directory' && there !== 'directory') {
        throw new ArchiveRefused(
          there === 'symlink'
            ? `the entry "${name}" would be written through the symlink "${name}" of ${this.destination.label}`
            : `the entry "${name}" is a folder where ${this.destination.label} has a file`,
        )
      }
      if (node.type === 'symlink' && there === 'directory') {
        throw new ArchiveRefused(
          `the symlink "${name}" would replace the folder "${name}" of ${this.destination.label}`,
        )
      }
    }
    for (const [name, node] of this.nodes) {
      if (node.type === 'symlink') await this.resolveLink(name, node.target)
    }
  }

  /** Follows the link at `name` to where it leads, refusing the archive when that is outside. */
  private async resolveLink(name: string, target: string): Promise<void> {
    const outside = () => this.outside(name, target)
    let at = name.split('/').slice(0, -1)
    let rest = this.startOf(target, outside)
    if (rest.absolute) at = []
    let pending = rest.parts
    let hops = 0
    let missing = false
    while (pending.length > 0) {
      const [part, ...after] = pending as [string, ...string[]]
      pending = after
      if (part === '..') {
        if (at.length === 0 || missing) throw outside()
        at = at.slice(0, -1)
        continue
      }
      const path = [...at, part].join('/')
      const node = missing ? undefined : (this.nodes.get(path) ?? (await this.fromDestination(path)))
      // Past a name that is missing or a file, the kernel finds nothing; no `..` climbs back from there.
      if (node === undefined || node.type === 'file') missing = true
      if (node?.type === 'symlink') {
        if (++hops > MAX_HOPS) throw new ArchiveRefused(`the symlink "${name}" is part of a loop of symlinks`)
        rest = this.startOf(node.target, outside)
        if (rest.absolute) at = []
        pending = [...rest.parts, ...pending]
        continue
      }
      at = [...at, part]
    }
  }

  /** Refuses a target whose absolute start or leading `..` alone lead out of the destination. */
  private climbsOut(name: string, target: string): void {
    const outside = () => this.outside(name, target)
    const { absolute, parts } = this.startOf(target, outside)
    let climbs = 0
    while (parts[climbs] === '..') climbs++
    if (climbs > (absolute ? 0 : depth(name) - 1)) throw outside()
  }

  private outside(name: string, target: string): ArchiveRefused {
    return new ArchiveRefused(
      `the symlink "${name}" points outside ${this.destination.label}, to "${target}"`,
    )
  }

  /** A target's components from where they start: the link's folder, or the destination's root. */
  private startOf(target: string, outside: () => ArchiveRefused): { absolute: boolean; parts: string[] } {
    if (target === '' || target.includes('\0') || Buffer.byteLength(target) > MAX_TARGET_BYTES)
      throw outside()
    const parts = target.split('/').filter((part) => part !== '' && part !== '.')
    if (!target.startsWith('/')) return { absolute: false, parts }
    const root = this.destination.root
    if (root === null) throw outside()
    const rootParts = root.split('/').filter(Boolean)
    if (rootParts.some((part, i) => parts[i] !== part)) throw outside()
    return { absolute: true, parts: parts.slice(rootParts.length) }
  }

  /** A path the archive does not make, as the destination has it; a link there is never followed. */
  private async fromDestination(path: string): Promise<Node | undefined> {
    const there = await this.existing(path)
    if (there === 'symlink') {
      throw new ArchiveRefused(
        `a symlink of the archive leads through the symlink "${path}" of ${this.destination.label}`,
      )
    }
    return there === null ? undefined : there === 'directory' ? { type: 'directory' } : { type: 'file' }
  }

  /** What the destination has at `path`, asked once, and only when its parent is a real folder there. */
  private async existing(path: string): Promise<Existing> {
    const known = this.seen.get(path)
    if (known !== undefined) return known
    const parent = posix.dirname(path)
    const there =
      parent === '.' || (await this.existing(parent)) === 'directory'
        ? await this.destination.existing(path)
        : null
    this.seen.set(path, there)
    return there
  }
}

function nodeOf(entry: ArchiveEntry): Node {
  switch (entry.type) {
    case 'directory':
      return { type: 'directory' }
    case 'file':
      return { type: 'file' }
    case 'symlink':
      return { type: 'symlink', target: entry.linkname ?? '' }
    case 'link':
      throw new ArchiveRefused(`the entry "${entry.name}" is a hard link; send the file itself`)
    default:
      throw new ArchiveRefused(`the entry "${entry.name}" is a device, FIFO or other special file`)
  }
}

const depth = (path: string) => path.split('/').length

/** A name relative to the archive's root, `./` and empty parts dropped; absolute and `..` are refused. */
export function relativeName(name: string, what: string): string {
  if (name.includes('\0')) throw new ArchiveRefused(`${what} holds a NUL byte`)
  if (name.startsWith('/')) throw new ArchiveRefused(`${what} is an absolute path`)
  const parts = name.split('/').filter((part) => part !== '' && part !== '.')
  if (parts.includes('..')) throw new ArchiveRefused(`${what} has a ".." component`)
  return parts.join('/')
}
