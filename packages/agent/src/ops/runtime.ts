import os from 'node:os'
import { join } from 'node:path'
import { HostPorts } from '../containers/ports.ts'
import { AppHost, type AppHostOptions } from '../deploy/apps.ts'
import { StatsHistory } from '../stats.ts'
import { Uploads } from '../uploads.ts'
import type { AgentRuntime, StreamReport } from './context.ts'

export interface RuntimeOptions {
  /** Where deploys clone and build and uploads wait; a folder of this process under the system's temp folder otherwise. */
  workDir?: string
  openStreams?: () => StreamReport[]
  /** What the apps' deploys need; the runtime's work folder, uploads and host ports are shared with them. */
  apps?: Omit<AppHostOptions, 'ports' | 'workDir' | 'uploads'>
}

export function newRuntime(options: RuntimeOptions = {}): AgentRuntime {
  const workDir = options.workDir ?? join(os.tmpdir(), `berth-agent-${process.pid}`)
  const ports = new HostPorts()
  const uploads = new Uploads(workDir)
  return {
    ports,
    stats: new StatsHistory(),
    uploads,
    apps: options.apps ? new AppHost({ ...options.apps, workDir, uploads, ports }) : null,
    openStreams: options.openStreams ?? (() => []),
  }
}
