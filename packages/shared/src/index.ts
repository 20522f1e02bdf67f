export * from './api.ts'
export * from './apps.ts'
export * from './containers.ts'
export * from './docker.ts'
export * from './domains.ts'
export * from './errors.ts'
export * from './ids.ts'
export * from './protocol/index.ts'
export * from './realtime.ts'
export * from './terminal.ts'
export * from './text.ts'

/** The version of this Berth release, shared by API and agent. */
export const BERTH_VERSION = '0.1.0'
