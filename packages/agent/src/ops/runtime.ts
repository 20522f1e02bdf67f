import { Mutex } from '../concurrency.ts'
import { AppHost, type AppHostOptions } from '../deploy/apps.ts'
import { StatsHistory } from '../stats.ts'
import type { AgentRuntime, StreamReport } from './context.ts'

export interface RuntimeOptions {
  openStreams?: () => StreamReport[]
  /** What the apps' deploys need; the runtime's port lock is shared with them. */
  apps?: Omit<AppHostOptions, 'portLock'>
}

export function newRuntime(options: RuntimeOptions = {}): AgentRuntime {
  const portLock = new Mutex()
  return {
    portLock,
    stats: new StatsHistory(),
    apps: options.apps ? new AppHost({ ...options.apps, portLock }) : null,
    openStreams: options.openStreams ?? (() => []),
  }
}
