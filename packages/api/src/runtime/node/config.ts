import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { BERTH_VERSION } from '@berth/shared'
import { z } from 'zod'
import type { Config } from '../../context.ts'

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes')
const int = (min: number) => z.coerce.number().int().min(min)

const envSchema = z.object({
  HOST: z.string().default('0.0.0.0'),
  PORT: int(0).max(65535).default(3001),
  DATABASE_URL: z.string().default('file:./data/berth.db'),
  DATABASE_AUTH_TOKEN: z.string().optional(),
  BERTH_DATA_DIR: z.string().optional(),
  BERTH_JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  BERTH_SECRET_KEY: z.string().min(32, 'at least 32 characters').optional(),
  BERTH_JWT_TTL_S: int(60).default(86_400),
  BERTH_OPEN_REGISTRATION: bool.default(false),
  BERTH_MAX_BODY_BYTES: int(1024).default(1024 * 1024),
  BERTH_HEARTBEAT_MS: int(100).default(10_000),
  BERTH_CALL_TIMEOUT_MS: int(100).default(30_000),
  BERTH_STATS_INTERVAL_MS: int(100).default(10_000),
  BERTH_STATS_RETENTION_S: int(1).default(86_400),
  BERTH_MAINTENANCE_MS: int(100).default(60_000),
  BERTH_ENROLLMENT_TTL_S: int(60).default(3600),
  BERTH_PUBLIC_URL: z.url().optional(),
  BERTH_TRUST_PROXY: bool.default(false),
  BERTH_LOCAL_AGENT: z.enum(['auto', 'off']).default('auto'),
  DOCKER_HOST: z.string().optional(),
})

export interface NodeConfig extends Config {
  host: string
  port: number
  databaseUrl: string
  databaseAuthToken: string | undefined
  dataDir: string
  secretKey: string
  trustProxy: boolean
  localAgent: 'auto' | 'off'
  dockerHost: string | undefined
  maintenanceMs: number
}

/** Reads the environment; a bad value stops the start with a message naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new Error(`invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  const dataDir = resolve(
    e.BERTH_DATA_DIR ?? (e.DATABASE_URL.startsWith('file:') ? dirname(e.DATABASE_URL.slice(5)) : './data'),
  )
  const secrets = e.BERTH_JWT_SECRET && e.BERTH_SECRET_KEY ? null : loadOrCreateSecrets(dataDir)
  return {
    version: BERTH_VERSION,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databaseAuthToken: e.DATABASE_AUTH_TOKEN,
    dataDir,
    jwtSecret: e.BERTH_JWT_SECRET ?? secrets!.jwt_secret,
    secretKey: e.BERTH_SECRET_KEY ?? secrets!.secret_key,
    jwtTtlSeconds: e.BERTH_JWT_TTL_S,
    openRegistration: e.BERTH_OPEN_REGISTRATION,
    maxBodyBytes: e.BERTH_MAX_BODY_BYTES,
    heartbeatMs: e.BERTH_HEARTBEAT_MS,
    callTimeoutMs: e.BERTH_CALL_TIMEOUT_MS,
    statsIntervalMs: e.BERTH_STATS_INTERVAL_MS,
    statsRetentionSeconds: e.BERTH_STATS_RETENTION_S,
    maintenanceMs: e.BERTH_MAINTENANCE_MS,
    enrollmentTtlSeconds: e.BERTH_ENROLLMENT_TTL_S,
    publicUrl: e.BERTH_PUBLIC_URL?.replace(/\/+$/, '') ?? null,
    trustProxy: e.BERTH_TRUST_PROXY,
    localAgent: e.BERTH_LOCAL_AGENT,
    dockerHost: e.DOCKER_HOST,
  }
}

const secretsSchema = z.object({ jwt_secret: z.string().min(32), secret_key: z.string().min(32) })

/** Secrets not given in the environment are generated once and kept in the data folder (mode 0600). */
function loadOrCreateSecrets(dataDir: string): z.infer<typeof secretsSchema> {
  const file = join(dataDir, 'secrets.json')
  if (existsSync(file)) return secretsSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const secrets = {
    jwt_secret: randomBytes(32).toString('base64url'),
    secret_key: randomBytes(32).toString('base64url'),
  }
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  chmodSync(file, 0o600)
  return secrets
}
