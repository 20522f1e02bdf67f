import { execFileSync } from 'node:child_process'

export const TEST_IMAGE = process.env.BERTH_TEST_IMAGE ?? 'berth-test/busybox:latest'

/** Runs the Docker CLI, as a user checking on Berth's work would. */
export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

export function dockerInspect(ref: string): any | null {
  try {
    return JSON.parse(docker('inspect', '--type', 'container', ref))[0]
  } catch {
    return null
  }
}

/** Removes containers by id, ignoring ones already gone. */
export function removeContainers(ids: string[]): void {
  if (ids.length === 0) return
  try {
    execFileSync('docker', ['rm', '-f', '-v', ...ids], { stdio: 'ignore' })
  } catch {
    // already gone
  }
}
