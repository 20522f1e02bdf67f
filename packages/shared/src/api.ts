import { z } from 'zod'
import { buildResources } from './apps.ts'
import { HTTPS_MODES, hostname, proxyInfo } from './domains.ts'
import { queryFlag } from './query.ts'
import { plainText } from './text.ts'

// Request bodies of the REST API. Responses are described as types below them.

export const ROLES = ['admin', 'member', 'viewer'] as const
export type Role = (typeof ROLES)[number]
/** `read` < `write` < `admin` are levels, each implying the ones before it; `docker` is a grant of its own. */
export const SCOPES = ['read', 'write', 'admin', 'docker'] as const
export type Scope = (typeof SCOPES)[number]
/** How many servers one token may open Docker on. */
export const MAX_DOCKER_SERVERS = 100

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
    scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length).default(['read']),
    /** The servers a `docker` token may open Docker on. */
    docker_servers: z.array(z.string().min(1).max(64)).min(1).max(MAX_DOCKER_SERVERS).optional(),
    expires_in_days: z.number().int().min(1).max(3650).optional(),
  })
  .strict()
  .superRefine((body, issues) => {
    const docker = body.scopes.includes('docker')
    if (docker && !body.docker_servers)
      issues.addIssue({
        code: 'custom',
        path: ['docker_servers'],
        message: 'the docker scope needs the servers it opens',
      })
    if (!docker && body.docker_servers)
      issues.addIssue({
        code: 'custom',
        path: ['docker_servers'],
        message: 'only a token with the docker scope names servers',
      })
  })

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

export { queryFlag }

export const listQuery = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

export const auditListQuery = listQuery
  .extend({
    actor: z.string().min(1).max(64).optional().describe('entries of this actor (a user, token or agent id)'),
    action: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe("entries whose action contains this text, e.g. 'DELETE' or '/servers'"),
    failed: queryFlag
      .optional()
      .describe('true: refused or failed requests only (status 400+); false: the rest'),
  })
  .strict()

// ---------------------------------------------------------------- responses
// Schemas of what the API answers, for its OpenAPI document; the types are what services return.

const isoTime = z.string().describe('an ISO 8601 time')

export const userView = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  role: z.enum(ROLES),
  disabled: z.boolean(),
  created_at: isoTime,
  updated_at: isoTime,
})
export type User = z.infer<typeof userView>

export const apiTokenView = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  /** The servers the token may open Docker on (with the docker scope); empty without it. */
  docker_servers: z.array(z.string()),
  prefix: z.string(),
  expires_at: isoTime.nullable(),
  last_used_at: isoTime.nullable(),
  created_at: isoTime,
})
export type ApiToken = z.infer<typeof apiTokenView>

export const SERVER_STATUSES = ['pending', 'online', 'offline'] as const
export type ServerStatus = (typeof SERVER_STATUSES)[number]

export const serverView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  status: z.enum(SERVER_STATUSES),
  last_seen_at: isoTime.nullable(),
  /** Host ports handed out to containers that do not ask for one. */
  port_range: z.object({ start: z.number().int(), end: z.number().int() }),
  /** Build caps for apps that set none; empty: the API's defaults. */
  build_resources: z.object({ cpus: z.number().optional(), memory: z.number().optional() }),
  agent: z.object({
    version: z.string().nullable(),
    hostname: z.string().nullable(),
    arch: z.string().nullable(),
    os: z.string().nullable(),
    docker_version: z.string().nullable(),
    cpus: z.number().nullable(),
    memory_bytes: z.number().nullable(),
  }),
  /** The host's Caddy as its agent last reported it; null when the agent reaches none. */
  proxy: proxyInfo.nullable(),
  /** The host's IPv4 address as its agent reported it. */
  ipv4: z.string().nullable(),
  base_domain: z.string().nullable(),
  base_domain_https: z.enum(HTTPS_MODES),
  acme_directory: z.string().nullable(),
  acme_email: z.string().nullable(),
  created_at: isoTime,
  updated_at: isoTime,
})
export type Server = z.infer<typeof serverView>

export const enrollmentInfo = z.object({
  token: z.string(),
  expires_at: isoTime,
  commands: z.object({ node: z.string(), npm: z.string(), docker: z.string(), systemd: z.string() }),
})
export type Enrollment = z.infer<typeof enrollmentInfo>

export const enrollResponse = z.object({ server_id: z.string(), agent_token: z.string() })
export type EnrollResponse = z.infer<typeof enrollResponse>

export const healthView = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  services: z.object({ database: z.enum(['ok', 'error']), agents_online: z.number().int() }),
})
export type Health = z.infer<typeof healthView>
