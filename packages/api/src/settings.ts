import { BERTH_VERSION, parseMemory } from '@berth/shared'
import { z } from 'zod'
import type { Config } from './context.ts'

// The settings both runtimes read from their environment (process.env on Node, vars and
// secrets on Workers): one schema, so names and defaults cannot drift apart.

export const envFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes')
export const envInt = (min: number) => z.coerce.number().int().min(min)

export const settingsSchema = z.object({
  BERTH_JWT_TTL_S: envInt(60).default(86_400),
  BERTH_OPEN_REGISTRATION: envFlag.default(false),
  BERTH_MAX_BODY_BYTES: envInt(1024).default(1024 * 1024),
  BERTH_HEARTBEAT_MS: envInt(100).default(10_000),
  BERTH_CALL_TIMEOUT_MS: envInt(100).default(30_000),
  BERTH_STATS_INTERVAL_MS: envInt(100).default(10_000),
  BERTH_STATS_RETENTION_S: envInt(1).default(86_400),
  BERTH_ENROLLMENT_TTL_S: envInt(60).default(3600),
  BERTH_AUDIT_RETENTION_DAYS: envInt(1).default(90),
  BERTH_PUBLIC_URL: z.url().optional(),
  BERTH_MAX_UPLOAD_BYTES: envInt(1024).default(100 * 1024 * 1024),
  BERTH_BUILD_MEMORY: z
    .string()
    .transform((v, ctx) => {
      const bytes = parseMemory(v)
      if (bytes !== null) return bytes
      ctx.addIssue({ code: 'custom', message: 'a size such as 2g' })
      return z.NEVER
    })
    .default(2 * 1024 ** 3),
  BERTH_BUILD_CPUS: z.coerce.number().positive().optional(),
  BERTH_STREAM_STALL_S: z.coerce.number().positive().default(60),
  BERTH_MAX_SOCKETS_PER_USER: envInt(1).default(32),
  BERTH_MAX_STREAMS_PER_USER: envInt(1).default(128),
  BERTH_FOLLOW_FALLBACK_MS: envInt(100).default(1_000),
})

/** The app's Config from parsed settings and the JWT secret. */
export function configFrom(s: z.infer<typeof settingsSchema>, jwtSecret: string): Omit<Config, 'secretKey'> {
  return {
    version: BERTH_VERSION,
    jwtSecret,
    jwtTtlSeconds: s.BERTH_JWT_TTL_S,
    openRegistration: s.BERTH_OPEN_REGISTRATION,
    maxBodyBytes: s.BERTH_MAX_BODY_BYTES,
    heartbeatMs: s.BERTH_HEARTBEAT_MS,
    callTimeoutMs: s.BERTH_CALL_TIMEOUT_MS,
    statsIntervalMs: s.BERTH_STATS_INTERVAL_MS,
    statsRetentionSeconds: s.BERTH_STATS_RETENTION_S,
    enrollmentTtlSeconds: s.BERTH_ENROLLMENT_TTL_S,
    auditRetentionDays: s.BERTH_AUDIT_RETENTION_DAYS,
    publicUrl: s.BERTH_PUBLIC_URL?.replace(/\/+$/, '') ?? null,
    maxUploadBytes: s.BERTH_MAX_UPLOAD_BYTES,
    buildMemory: s.BERTH_BUILD_MEMORY,
    buildCpus: s.BERTH_BUILD_CPUS ?? null,
    streamStallMs: s.BERTH_STREAM_STALL_S * 1000,
    maxSocketsPerUser: s.BERTH_MAX_SOCKETS_PER_USER,
    maxStreamsPerUser: s.BERTH_MAX_STREAMS_PER_USER,
    followFallbackMs: s.BERTH_FOLLOW_FALLBACK_MS,
  }
}
