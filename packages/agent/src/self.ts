import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Docker } from './docker/index.ts'

/** Where the agent itself lives on its host, so the API keeps it out of reach of its users. */
export interface AgentSelf {
  /** The Docker id of the container the agent runs in. */
  container: string
  /** The Docker volume that holds the state file, when one does. */
  stateVolume: string | null
}

/** Docker bind-mounts each container's hostname, hosts and resolv.conf from its own folder. */
const CONTAINER_FILE = /\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf) /

/** The container id in a mountinfo listing, or null outside a Docker container. */
export function containerIdOf(mountinfo: string): string | null {
  return mountinfo.match(CONTAINER_FILE)?.[1] ?? null
}

/**
 * Finds the container the agent runs in and the volume its state file is on; null when the agent
 * runs on the host itself, or Docker does not know the container.
 */
export async function findAgentSelf(
  docker: Docker,
  statePath: string,
  signal: AbortSignal,
  mountinfoPath = '/proc/self/mountinfo',
): Promise<AgentSelf | null> {
  const mountinfo = await readFile(mountinfoPath, 'utf8').catch(() => '')
  const id = containerIdOf(mountinfo)
  if (!id) return null
  const inspected = await docker.inspectContainer(id, signal).catch(() => null)
  if (!inspected) return null
  const stateDir = dirname(resolve(statePath))
  // The deepest mount that holds the state file's folder is the one it is written to.
  const holding = (inspected.Mounts ?? [])
    .filter((m) => stateDir === m.Destination || stateDir.startsWith(`${m.Destination.replace(/\/$/, '')}/`))
    .sort((a, b) => b.Destination.length - a.Destination.length)[0]
  return {
    container: inspected.Id,
    stateVolume: holding?.Type === 'volume' && holding.Name ? holding.Name : null,
  }
}
