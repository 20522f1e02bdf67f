import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

// Docker fixtures for the agent's unit tests: the Docker CLI, as a person checking the agent's work would use it.

export const TEST_IMAGE = process.env.BERTH_TEST_IMAGE ?? 'berth-test/busybox:latest'

/** Runs the Docker CLI and returns its trimmed stdout. */
export function dockerCli(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

export async function dockerCliAsync(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('docker', args, { encoding: 'utf8' })
  return stdout.trim()
}

/** `docker inspect` of a container; null when there is none. */
export function inspectCli(ref: string): DockerInspectCli | null {
  try {
    return JSON.parse(dockerCli('inspect', '--type', 'container', ref))[0] as DockerInspectCli
  } catch {
    return null
  }
}

/** The fields of `docker inspect` the tests look at. */
export interface DockerInspectCli {
  Id: string
  Name: string
  State: { Status: string; Running: boolean }
  Config: { Env: string[]; Labels: Record<string, string> }
  HostConfig: {
    NanoCpus: number
    Memory: number
    MemorySwap: number
    PidsLimit: number | null
    RestartPolicy: { Name: string }
    PortBindings: Record<string, { HostPort: string }[]> | null
  }
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean }[]
}

export const randomName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`

/**
 * Everything one test file makes in Docker carries `berth.test=agent` and a scope label of its own,
 * so files running at once never remove each other's containers.
 */
export class TestDocker {
  readonly scope = randomName('agent')
  readonly labels: Record<string, string> = { 'berth.test': 'agent', 'berth.test.scope': this.scope }
  private readonly volumes = new Set<string>()
  private readonly networks = new Set<string>()

  /** `docker run -d` with the labels; returns the container's id. */
  run(...args: string[]): string {
    return dockerCli('run', '-d', ...this.labelArgs(), ...args)
  }

  labelArgs(): string[] {
    return Object.entries(this.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`])
  }

  /** A volume name removed by removeAll. */
  volume(): string {
    const name = randomName('berth-test-vol')
    this.volumes.add(name)
    return name
  }

  network(): string {
    const name = randomName('berth-test-net')
    this.networks.add(name)
    return name
  }

  containerIds(): string[] {
    const ids = dockerCli('ps', '-aq', '--no-trunc', '--filter', `label=berth.test.scope=${this.scope}`)
    return ids ? ids.split('\n') : []
  }

  removeContainers(): void {
    const ids = this.containerIds()
    if (ids.length > 0) dockerCli('rm', '-f', '-v', ...ids)
  }

  removeAll(): void {
    this.removeContainers()
    for (const name of this.volumes) quietly(() => dockerCli('volume', 'rm', '-f', name))
    for (const name of this.networks) quietly(() => dockerCli('network', 'rm', name))
  }
}

function quietly(work: () => unknown): void {
  try {
    work()
  } catch {
    // already gone
  }
}
