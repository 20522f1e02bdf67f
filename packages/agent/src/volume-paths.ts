import { realpath } from 'node:fs/promises'
import { posix, resolve, sep } from 'node:path'
import type { ContainerInspect } from './docker/index.ts'
import { OpError } from './errors.ts'

type Mount = NonNullable<ContainerInspect['Mounts']>[number]

/** Where a path in a container lives on the host: the source of the mount holding it, and the path below that. */
export interface MountedPath {
  /** The mount's host directory (a volume's mountpoint or a bind's source). */
  source: string
  /** The mount's directory in the container. */
  destination: string
  /** The path below `destination`, without a leading slash; '' for the mount's root. */
  relative: string
}

/**
 * The mount of a container that holds `path` (absolute, in the container): the one whose destination is
 * the longest prefix of it. `..` is resolved in the container first, so it can never climb out of a mount.
 * Null when `path` is on no mount with a host directory (tmpfs has none).
 */
export function mountOf(mounts: readonly Mount[], path: string): MountedPath | null {
  if (!posix.isAbsolute(path)) throw new OpError('validation_error', `the path must be absolute: ${path}`)
  const normal = posix.resolve('/', path)
  let best: MountedPath | null = null
  for (const mount of mounts) {
    if (!mount.Source?.startsWith('/') || mount.Type === 'tmpfs') continue
    const destination = posix.resolve('/', mount.Destination)
    const relative = posix.relative(destination, normal)
    const inside = relative === '' || !(relative === '..' || relative.startsWith('../'))
    if (inside && (!best || destination.length > best.destination.length)) {
      best = { source: mount.Source, destination, relative }
    }
  }
  return best
}

/**
 * `relative` under `root` on this host, with symlinks resolved, refused when it leads out of `root`
 * (a symlink in a volume may point anywhere on the host). The part that does not exist yet is kept as
 * given, below the real path of the part that does.
 */
export async function confine(root: string, relative: string): Promise<string> {
  const realRoot = await realpath(root).catch(() => {
    throw new OpError('state_error', `the mount's directory ${root} is not on this host`)
  })
  const target = resolve(realRoot, relative)
  if (!within(realRoot, target)) throw leadsOut(relative)
  let existing = target
  let missing = ''
  for (;;) {
    try {
      existing = await realpath(existing)
      break
    } catch {
      // Not there (yet): resolve its parent; the rest is created below a real directory.
      const parent = resolve(existing, '..')
      missing = missing
        ? `${existing.slice(parent.length + 1)}${sep}${missing}`
        : existing.slice(parent.length + 1)
      if (parent === existing) break
      existing = parent
    }
  }
  const real = missing ? resolve(existing, missing) : existing
  if (!within(realRoot, real)) throw leadsOut(relative)
  return real
}

function within(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)
}

const leadsOut = (relative: string) =>
  new OpError('validation_error', `${relative || '.'} leads out of the container's volume`)
