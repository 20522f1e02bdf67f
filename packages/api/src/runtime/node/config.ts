import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { z } from 'zod'
import type { Config } from '../../context.ts'
import { configFrom, envFlag, envInt, settingsSchema } from '../../settings.ts'

/** `true` trusts the one proxy in front of the API, a number that many proxies in a chain, `false` none. */
const proxyHops = z.union([envFlag.transform((on) => (on ? 1 : 0)), envInt(0).max(32)])

const envSchema = settingsSchema.extend({
  HOST: z.string().default('0.0.0.0'),
  PORT: envInt(0).max(65535).default(3001),
  DATABASE_URL: z.string().default('file:./data/berth.db'),
  DATABASE_AUTH_TOKEN: z.string().optional(),
  BERTH_DATA_DIR: z.string().optional(),
  BERTH_JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  BERTH_SECRET_KEY: z.string().min(32, 'at least 32 characters').optional(),
  BERTH_MAINTENANCE_MS: envInt(100).default(60_000),
  BERTH_TRUST_PROXY: proxyHops.default(0),
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
  /** How many reverse proxies in front of the API append to X-Forwarded-For (0: the header is ignored). */
  trustProxyHops: number
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
  ownerOnlyFolder(dataDir)
  const secrets = e.BERTH_JWT_SECRET && e.BERTH_SECRET_KEY ? null : loadOrCreateSecrets(dataDir)
  return {
    ...configFrom(e, e.BERTH_JWT_SECRET ?? secrets!.jwt_secret),
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databaseAuthToken: e.DATABASE_AUTH_TOKEN,
    dataDir,
    secretKey: e.BERTH_SECRET_KEY ?? secrets!.secret_key,
    maintenanceMs: e.BERTH_MAINTENANCE_MS,
    trustProxyHops: e.BERTH_TRUST_PROXY,
    localAgent: e.BERTH_LOCAL_AGENT,
    dockerHost: e.DOCKER_HOST,
  }
}

/**
 * Makes a folder of Berth's own (the data folder, the database's) the owner's alone: created 0700,
 * or tightened to it when it exists with wider modes, since it holds secrets and the database.
 */
export function ownerOnlyFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
}

/** Makes each file that exists readable and writable by the owner only. */
export function ownerOnlyFiles(files: string[]): void {
  for (const file of files) if (existsSync(file)) chmodSync(file, 0o600)
}

const secretsSchema = z.object({ jwt_secret: z.string().min(32), secret_key: z.string().min(32) })

/** Secrets not given in the environment are generated once and kept in the data folder (mode 0600). */
function loadOrCreateSecrets(dataDir: string): z.infer<typeof secretsSchema> {
  const file = join(dataDir, 'secrets.json')
  if (existsSync(file)) {
    ownerOnlyFiles([file])
    return secretsSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
  }
  const secrets = {
    jwt_secret: randomBytes(32).toString('base64url'),
    secret_key: randomBytes(32).toString('base64url'),
  }
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  ownerOnlyFiles([file])
  return secrets
}
