import {
  type AppSource,
  type CertificateState,
  DEPLOYMENT_STATES,
  type DeploySource,
  type HealthCheck,
  HTTPS_MODES,
  type LogLine,
  type ProxyInfo,
  type PublishedPort,
  type Scope,
} from '@berth/shared'
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/** What a deployment deploys, as the API records it (an upload's tarball is on the host). */
export type DeploymentSource =
  | Exclude<DeploySource, { type: 'git' | 'upload' }>
  | (Omit<Extract<DeploySource, { type: 'git' }>, 'ssh_key'> & { ssh: boolean })
  | Extract<DeploySource, { type: 'upload' }>

// Times are unix milliseconds; the API renders them as ISO strings.

export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  name: text('name'),
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['admin', 'member', 'viewer'] }).notNull(),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  /** Carried in each session token; raising it ends every session issued before (password change, disable). */
  sessionEpoch: integer('session_epoch').notNull().default(0),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
})

export const apiTokens = sqliteTable(
  'api_tokens',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    scopes: text('scopes', { mode: 'json' }).$type<Scope[]>().notNull(),
    /** The servers a token with the docker scope may open Docker on; ids of deleted servers grant nothing. */
    dockerServers: text('docker_servers', { mode: 'json' }).$type<string[]>().notNull().default([]),
    expiresAt: integer('expires_at'),
    lastUsedAt: integer('last_used_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('api_tokens_user_idx').on(t.userId)],
)

export const servers = sqliteTable('servers', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  description: text('description'),
  status: text('status', { enum: ['pending', 'online', 'offline'] })
    .notNull()
    .default('pending'),
  lastSeenAt: integer('last_seen_at'),
  agentTokenHash: text('agent_token_hash').unique(),
  agentVersion: text('agent_version'),
  hostname: text('hostname'),
  arch: text('arch'),
  os: text('os'),
  dockerVersion: text('docker_version'),
  cpus: integer('cpus'),
  memoryBytes: integer('memory_bytes'),
  /** The container the agent runs in and the volume of its state file, as its hello said. */
  agentContainer: text('agent_container'),
  agentStateVolume: text('agent_state_volume'),
  /** Host ports handed out to containers that do not ask for one. */
  portRangeStart: integer('port_range_start').notNull().default(20000),
  portRangeEnd: integer('port_range_end').notNull().default(29999),
  /** Caps on builds of this server's apps that set none. */
  buildResources: text('build_resources', { mode: 'json' })
    .$type<{ cpus?: number; memory?: number }>()
    .notNull()
    .default({}),
  /** Every app gets `<app>.<base_domain>` (the sslip.io name of `ipv4` when null), served as `baseDomainHttps` says. */
  baseDomain: text('base_domain'),
  baseDomainHttps: text('base_domain_https', { enum: HTTPS_MODES }).notNull().default('auto'),
  acmeDirectory: text('acme_directory'),
  acmeEmail: text('acme_email'),
  /** The host's Caddy as the agent last reported it (hello or a proxy.state event). */
  proxy: text('proxy', { mode: 'json' }).$type<ProxyInfo | null>(),
  ipv4: text('ipv4'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
})

export const enrollmentTokens = sqliteTable(
  'enrollment_tokens',
  {
    id: text('id').primaryKey(),
    serverId: text('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    uniqueIndex('enrollment_tokens_hash_idx').on(t.tokenHash),
    index('enrollment_tokens_server_idx').on(t.serverId),
  ],
)

export const auditLog = sqliteTable(
  'audit_log',
  {
    id: text('id').primaryKey(),
    at: integer('at').notNull(),
    actorType: text('actor_type', { enum: ['user', 'token', 'agent', 'anonymous'] }).notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    target: text('target'),
    status: integer('status').notNull(),
    durationMs: integer('duration_ms').notNull(),
    requestId: text('request_id').notNull(),
    ip: text('ip'),
  },
  // Retention deletes by age.
  (t) => [index('audit_log_at_idx').on(t.at)],
)

export const loginFailures = sqliteTable(
  'login_failures',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    key: text('key').notNull(),
    at: integer('at').notNull(),
  },
  (t) => [index('login_failures_key_at_idx').on(t.key, t.at)],
)

/** The API's copy of each server's containers, kept current by the agent's inventory and events. */
export const containers = sqliteTable(
  'containers',
  {
    id: text('id').primaryKey(),
    serverId: text('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'cascade' }),
    dockerId: text('docker_id').notNull(),
    name: text('name').notNull(),
    image: text('image').notNull(),
    status: text('status').notNull(),
    exitCode: integer('exit_code'),
    health: text('health').notNull(),
    ports: text('ports', { mode: 'json' }).$type<PublishedPort[]>().notNull(),
    labels: text('labels', { mode: 'json' }).$type<Record<string, string>>().notNull(),
    tags: text('tags', { mode: 'json' }).$type<string[]>().notNull(),
    managed: integer('managed', { mode: 'boolean' }).notNull(),
    /** What of its host the container reaches, as its agent reported; empty for nothing. */
    hostAccess: text('host_access', { mode: 'json' }).$type<string[]>().notNull().default([]),
    dockerCreatedAt: integer('docker_created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
    observedAt: integer('observed_at').notNull(),
  },
  (t) => [
    uniqueIndex('containers_server_docker_idx').on(t.serverId, t.dockerId),
    index('containers_server_name_idx').on(t.serverId, t.name),
  ],
)

export const containerStats = sqliteTable(
  'container_stats',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    serverId: text('server_id').notNull(),
    containerId: text('container_id').notNull(),
    at: integer('at').notNull(),
    cpuPct: real('cpu_pct').notNull(),
    cpuLimit: real('cpu_limit').notNull(),
    memUsed: integer('mem_used').notNull(),
    memLimit: integer('mem_limit').notNull(),
    netRx: integer('net_rx').notNull(),
    netTx: integer('net_tx').notNull(),
    blkRead: integer('blk_read').notNull(),
    blkWrite: integer('blk_write').notNull(),
    pids: integer('pids').notNull(),
  },
  (t) => [
    index('container_stats_container_at_idx').on(t.containerId, t.at),
    index('container_stats_at_idx').on(t.at),
  ],
)

/** An app: what to deploy where, and how to run it. Env values live encrypted in app_env. */
export const apps = sqliteTable(
  'apps',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull().unique(),
    serverId: text('server_id')
      .notNull()
      .references(() => servers.id, { onDelete: 'cascade' }),
    source: text('source', { mode: 'json' }).$type<AppSource>().notNull(),
    port: integer('port').notNull(),
    volumes: text('volumes', { mode: 'json' }).$type<{ name: string; target: string }[]>().notNull(),
    resources: text('resources', { mode: 'json' })
      .$type<{ cpus?: number; memory?: number; pids?: number }>()
      .notNull(),
    instances: integer('instances').notNull(),
    /** Raw TCP/UDP ports Docker publishes for the app's container. */
    ports: text('ports', { mode: 'json' })
      .$type<{ host: number; container: number; protocol: 'tcp' | 'udp' }[]>()
      .notNull()
      .default([]),
    healthCheck: text('health_check', { mode: 'json' }).$type<HealthCheck | null>(),
    autoDeploy: integer('auto_deploy', { mode: 'boolean' }).notNull(),
    deadlines: text('deadlines', { mode: 'json' }).$type<{ clone: number; build: number }>().notNull(),
    buildResources: text('build_resources', { mode: 'json' })
      .$type<{ cpus?: number; memory?: number }>()
      .notNull(),
    /** The host port the agent serves the app on; set by the first deploy. */
    hostPort: integer('host_port'),
    /** The deployment now serving. */
    currentDeploymentId: text('current_deployment_id'),
    deployKeyPublic: text('deploy_key_public'),
    /** The deploy key's OpenSSH private key, AES-256-GCM encrypted. */
    deployKeySecret: text('deploy_key_secret'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [index('apps_server_idx').on(t.serverId)],
)

/** The hostnames an app is served at, beside its automatic one; certificate fields as last read from Caddy. */
export const domains = sqliteTable(
  'domains',
  {
    id: text('id').primaryKey(),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    hostname: text('hostname').notNull().unique(),
    https: text('https', { enum: HTTPS_MODES }).notNull(),
    redirectHttp: integer('redirect_http', { mode: 'boolean' }).notNull(),
    redirectTo: text('redirect_to'),
    /** Null until the certificate was first read back: shown as pending. */
    certStatus: text('cert_status').$type<CertificateState>(),
    certReason: text('cert_reason'),
    certExpiresAt: integer('cert_expires_at'),
    certIssuer: text('cert_issuer'),
    certCheckedAt: integer('cert_checked_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('domains_app_idx').on(t.appId)],
)

export const appEnv = sqliteTable(
  'app_env',
  {
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** AES-256-GCM: `v1.<iv>.<ciphertext>`, base64url. */
    value: text('value').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.appId, t.key] })],
)

export const deployments = sqliteTable(
  'deployments',
  {
    id: text('id').primaryKey(),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    serverId: text('server_id').notNull(),
    state: text('state', { enum: DEPLOYMENT_STATES }).notNull(),
    reason: text('reason'),
    trigger: text('trigger', { enum: ['manual', 'webhook', 'rollback'] }).notNull(),
    /** What this deployment deploys: the app's source when it was asked for, resolved. */
    source: text('source', { mode: 'json' }).$type<DeploymentSource>().notNull(),
    image: text('image'),
    commitSha: text('commit_sha'),
    commitMessage: text('commit_message'),
    rollbackOf: text('rollback_of'),
    createdBy: text('created_by'),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
  },
  (t) => [
    index('deployments_app_idx').on(t.appId, t.createdAt),
    index('deployments_server_state_idx').on(t.serverId, t.state),
  ],
)

/** A deployment's output in chunks of lines, as they arrived; seq numbers the lines. */
export const deploymentLogs = sqliteTable(
  'deployment_logs',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    firstSeq: integer('first_seq').notNull(),
    lastSeq: integer('last_seq').notNull(),
    lines: text('lines', { mode: 'json' }).$type<LogLine[]>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.firstSeq] })],
)

export const webhooks = sqliteTable(
  'webhooks',
  {
    id: text('id').primaryKey(),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    provider: text('provider', { enum: ['github', 'gitlab', 'gitea'] }).notNull(),
    /** The shared secret, AES-256-GCM encrypted (it must be read back to check signatures). */
    secret: text('secret').notNull(),
    branch: text('branch'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('webhooks_app_idx').on(t.appId)],
)

export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    webhookId: text('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    /** The provider's id of the delivery; one delivery is acted on once. */
    deliveryId: text('delivery_id').notNull(),
    event: text('event').notNull(),
    status: text('status', { enum: ['success', 'failed', 'skipped'] }).notNull(),
    reason: text('reason'),
    deploymentId: text('deployment_id'),
    receivedAt: integer('received_at').notNull(),
  },
  (t) => [uniqueIndex('webhook_deliveries_delivery_idx').on(t.webhookId, t.deliveryId)],
)

/** Health probe results and self-healing restarts, as agents report them; bounded per app. */
export const appHealth = sqliteTable(
  'app_health',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    dockerId: text('docker_id').notNull(),
    at: integer('at').notNull(),
    kind: text('kind', { enum: ['probe', 'restart'] }).notNull(),
    ok: integer('ok', { mode: 'boolean' }).notNull(),
    ms: real('ms'),
    error: text('error'),
  },
  (t) => [index('app_health_app_at_idx').on(t.appId, t.at)],
)
