import type { PublishedPort } from '@berth/shared'
import { index, integer, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

// Times are unix milliseconds; the API renders them as ISO strings.

export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  name: text('name'),
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['admin', 'member', 'viewer'] }).notNull(),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
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
    scopes: text('scopes', { mode: 'json' }).$type<('read' | 'write' | 'admin')[]>().notNull(),
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
  /** Host ports handed out to containers that do not ask for one. */
  portRangeStart: integer('port_range_start').notNull().default(20000),
  portRangeEnd: integer('port_range_end').notNull().default(29999),
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

export const auditLog = sqliteTable('audit_log', {
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
})

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
