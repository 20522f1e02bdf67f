import { z } from 'zod'
import { buildResources } from './apps.ts'
import { HTTPS_MODES, type HttpsMode, hostname, type ProxyInfo } from './domains.ts'
import { plainText } from './text.ts'

// Request bodies of the REST API. Responses are described as types below them.

export const ROLES = ['admin', 'member', 'viewer'] as const
export type Role = (typeof ROLES)[number]
export const SCOPES = ['read', 'write', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

const email = z.string().trim().toLowerCase().pipe(z.email().max(254))
const password = z.string().min(8, 'at least 8 characters').max(256)
const displayName = plainText(z.string().trim().min(1).max(100))
const name = z
  .string()
  .trim()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'lowercase letters, digits and inner hyphens')

export const registerBody = z.object({ email, password, name: displayName.optional() }).strict()
export const loginBody = z.object({ email, password: z.string().min(1).max(256) }).strict()

export const changePasswordBody = z
  .object({ current_password: z.string().min(1).max(256), password })
  .strict()

export const createUserBody = z
  .object({ email, password, name: displayName.optional(), role: z.enum(ROLES).default('member') })
  .strict()
export const updateUserBody = z
  .object({ name: displayName, role: z.enum(ROLES), password, disabled: z.boolean() })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change')

export const createTokenBody = z
  .object({
    name: plainText(z.string().trim().min(1).max(100)),
    scopes: z.array(z.enum(SCOPES)).min(1).max(3).default(['read']),
    expires_in_days: z.number().int().min(1).max(3650).optional(),
  })
  .strict()

export const createServerBody = z
  .object({
    name,
    description: plainText(z.string().max(500)).optional(),
    enrollment_ttl_s: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .optional(),
  })
  .strict()
const portNumber = z.number().int().min(1).max(65535)
export const updateServerBody = z
  .object({
    name,
    description: plainText(z.string().max(500)).nullable(),
    port_range: z
      .object({ start: portNumber, end: portNumber })
      .strict()
      .refine((r) => r.start <= r.end, 'start must not be above end'),
    /** Caps on builds of apps on this server that set none of their own. */
    build_resources: buildResources,
    /** Every app gets `<app>.<base_domain>`; with none, `<app>.<server-ip-with-dashes>.sslip.io`. */
    base_domain: hostname.nullable(),
    /** How the automatic domains of the server's apps are served. */
    base_domain_https: z.enum(HTTPS_MODES),
    /** The ACME directory for `https: auto` domains; null for Let's Encrypt. */
    acme_directory: z.string().url().max(2048).nullable(),
    acme_email: z.string().email().max(254).nullable(),
  })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change')
export const rotateEnrollmentBody = z
  .object({
    enrollment_ttl_s: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .optional(),
  })
  .strict()

export const enrollBody = z.object({ token: z.string().min(1).max(200) }).strict()

export { queryFlag } from './query.ts'

export const listQuery = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

// ---------------------------------------------------------------- responses

export interface User {
  id: string
  email: string
  name: string | null
  role: Role
  disabled: boolean
  created_at: string
  updated_at: string
}

export interface ApiToken {
  id: string
  name: string
  scopes: Scope[]
  prefix: string
  expires_at: string | null
  last_used_at: string | null
  created_at: string
}

export type ServerStatus = 'pending' | 'online' | 'offline'

export interface Server {
  id: string
  name: string
  description: string | null
  status: ServerStatus
  last_seen_at: string | null
  /** Host ports handed out to containers that do not ask for one. */
  port_range: { start: number; end: number }
  /** Build caps for apps that set none; empty: the API's defaults. */
  build_resources: { cpus?: number; memory?: number }
  agent: {
    version: string | null
    hostname: string | null
    arch: string | null
    os: string | null
    docker_version: string | null
    cpus: number | null
    memory_bytes: number | null
  }
  /** The host's Caddy as its agent last reported it; null when the agent reaches none. */
  proxy: ProxyInfo | null
  /** The host's IPv4 address as its agent reported it. */
  ipv4: string | null
  base_domain: string | null
  base_domain_https: HttpsMode
  acme_directory: string | null
  acme_email: string | null
  created_at: string
  updated_at: string
}

export interface Enrollment {
  token: string
  expires_at: string
  commands: { node: string; npm: string; docker: string; systemd: string }
}

export interface EnrollResponse {
  server_id: string
  agent_token: string
}

export interface Health {
  status: 'ok' | 'degraded'
  version: string
  services: { database: 'ok' | 'error'; agents_online: number }
}
