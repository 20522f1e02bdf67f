import type { createServerBody, Enrollment, OpResult, Server, updateServerBody } from '@berth/shared'
import { AGENT_PATHS, newId } from '@berth/shared'
import { and, eq, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm'
import type { z } from 'zod'
import type { ActorContext, ServiceContext } from '../context.ts'
import { isUniqueViolation } from '../db/errors.ts'
import { perDatabase } from '../db/index.ts'
import { containerStats, containers, enrollmentTokens, servers } from '../db/schema.ts'
import { ApiError, notFound } from '../errors.ts'
import type { Hello } from '../hub/hub.ts'
import { newSecretToken, sha256Hex } from '../lib/crypto.ts'
import { decodeCursor, toPage } from '../lib/pagination.ts'
import { iso, isoOrNull } from '../lib/time.ts'
import { actorLevel, levelAtLeast } from './auth.ts'
import { syncProxyQuietly } from './proxy.ts'

type ServerRow = typeof servers.$inferSelect

export function toServerView(row: ServerRow): Server {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    status: row.status,
    last_seen_at: isoOrNull(row.lastSeenAt),
    port_range: { start: row.portRangeStart, end: row.portRangeEnd },
    build_resources: row.buildResources,
    agent: {
      version: row.agentVersion,
      hostname: row.hostname,
      arch: row.arch,
      os: row.os,
      docker_version: row.dockerVersion,
      cpus: row.cpus,
      memory_bytes: row.memoryBytes,
    },
    proxy: row.proxy ?? null,
    ipv4: row.ipv4,
    base_domain: row.baseDomain,
    base_domain_https: row.baseDomainHttps,
    acme_directory: row.acmeDirectory,
    acme_email: row.acmeEmail,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  }
}

const nameTaken = (name: string) =>
  new ApiError('conflict', `a server named ${name} already exists`, { code: 'server_name_taken' })

/** The commands that start an agent for an enrollment token, ready to paste on the new host. */
export function agentCommands(apiUrl: string, token: string): Enrollment['commands'] {
  const download = `${apiUrl}${AGENT_PATHS.download}`
  const args = `--api ${apiUrl} --token ${token}`
  return {
    node: `curl -fsSL ${download} -o berth-agent.mjs && node berth-agent.mjs ${args}`,
    npm: `npm run agent -- ${args}`,
    docker: [
      // The host's pid namespace, so the agent can signal and end the processes terminals start;
      // the host's network, so it reaches the host's Caddy on 127.0.0.1 and apps' host ports.
      'docker run -d --name berth-agent --restart unless-stopped --pid=host --network host',
      '-v /var/run/docker.sock:/var/run/docker.sock -v berth-agent:/var/lib/berth',
      `node:20-alpine sh -c "wget -qO /var/lib/berth/berth-agent.mjs ${download} &&`,
      `exec node /var/lib/berth/berth-agent.mjs ${args} --state /var/lib/berth/agent.json"`,
    ].join(' '),
    systemd: [
      '[Unit]',
      'Description=Berth agent',
      'After=network-online.target docker.service',
      'Wants=network-online.target',
      '',
      '[Service]',
      `ExecStartPre=/bin/sh -c 'test -f /opt/berth/berth-agent.mjs || (mkdir -p /opt/berth && curl -fsSL ${download} -o /opt/berth/berth-agent.mjs)'`,
      `ExecStart=/usr/bin/env node /opt/berth/berth-agent.mjs ${args} --state /var/lib/berth/agent.json`,
      'Restart=always',
      'RestartSec=5',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n'),
  }
}

async function newEnrollment(
  ctx: ServiceContext,
  { serverId, ttlSeconds, now }: { serverId: string; ttlSeconds: number | undefined; now: number },
) {
  const token = newSecretToken('berth_enr')
  const expiresAt = now + (ttlSeconds ?? ctx.config.enrollmentTtlSeconds) * 1000
  const row = {
    id: newId('enrollment', now),
    serverId,
    tokenHash: await sha256Hex(token),
    expiresAt,
    usedAt: null,
    createdAt: now,
  }
  return { token, expiresAt, row }
}

function enrollmentView(
  apiUrl: string,
  { token, expiresAt }: { token: string; expiresAt: number },
): Enrollment {
  return { token, expires_at: iso(expiresAt), commands: agentCommands(apiUrl, token) }
}

export async function createServer(
  ctx: ServiceContext,
  { body: input, apiUrl }: { body: z.infer<typeof createServerBody>; apiUrl: string },
): Promise<{ server: Server; enrollment: Enrollment }> {
  const now = ctx.clock.now()
  const id = newId('server', now)
  const enrollment = await newEnrollment(ctx, { serverId: id, ttlSeconds: input.enrollment_ttl_s, now })
  try {
    await ctx.db.batch([
      ctx.db.insert(servers).values({
        id,
        name: input.name,
        description: input.description ?? null,
        createdAt: now,
        updatedAt: now,
      }),
      ctx.db.insert(enrollmentTokens).values(enrollment.row),
    ])
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(input.name)
    throw err
  }
  return {
    server: await getServer(ctx, id),
    enrollment: enrollmentView(apiUrl, enrollment),
  }
}

/** findServer's query: most routes under /servers/:id run it. */
const serverById = perDatabase((db) =>
  db
    .select()
    .from(servers)
    .where(eq(servers.id, sql.placeholder('id')))
    .limit(1)
    .prepare(),
)

export async function findServer(ctx: ServiceContext, id: string): Promise<ServerRow> {
  const [row] = await serverById(ctx.db).all({ id })
  if (!row) throw notFound('server', id)
  return row
}

/**
 * The agent's own container and the volume of its state file hold its token and its host's Docker
 * socket: below admin, nobody reaches them through Berth. Refuses when `target` names either.
 */
export async function refuseAgentOwn(
  ctx: ActorContext,
  target: { serverId: string; container?: string; volumes?: string[] },
): Promise<void> {
  if (levelAtLeast(actorLevel(ctx.actor), 'admin')) return
  const server = await findServer(ctx, target.serverId)
  if (target.container && target.container === server.agentContainer) {
    throw new ApiError('forbidden', 'only admins may reach the agent’s own container', {
      code: 'agent_container_forbidden',
    })
  }
  const volume = target.volumes?.find((v) => v === server.agentStateVolume)
  if (volume) {
    throw new ApiError('forbidden', 'only admins may reach the volume that holds the agent’s state', {
      code: 'agent_volume_forbidden',
      details: { volume },
    })
  }
}

export async function getServer(ctx: ServiceContext, id: string): Promise<Server> {
  return toServerView(await findServer(ctx, id))
}

export async function findServerByName(ctx: ServiceContext, name: string): Promise<Server | null> {
  const [row] = await ctx.db.select().from(servers).where(eq(servers.name, name)).limit(1)
  return row ? toServerView(row) : null
}

export async function listServers(ctx: ActorContext, page: { cursor?: string; limit: number }) {
  const after = decodeCursor(page.cursor)
  const rows = await ctx.db
    .select()
    .from(servers)
    .where(after ? gt(servers.id, after) : undefined)
    .orderBy(servers.id)
    .limit(page.limit + 1)
  const { items, nextCursor } = toPage(rows, page.limit)
  return { servers: items.map(toServerView), next_cursor: nextCursor }
}

export async function updateServer(
  ctx: ActorContext,
  { id, body: input }: { id: string; body: z.infer<typeof updateServerBody> },
): Promise<Server> {
  await findServer(ctx, id)
  const { port_range, build_resources, base_domain, base_domain_https, acme_directory, acme_email, ...rest } =
    input
  const proxySettings = {
    baseDomain: base_domain,
    baseDomainHttps: base_domain_https,
    acmeDirectory: acme_directory,
    acmeEmail: acme_email,
  }
  const changes: Partial<ServerRow> = {
    ...rest,
    ...proxySettings,
    buildResources: build_resources,
    updatedAt: ctx.clock.now(),
  }
  if (port_range) Object.assign(changes, { portRangeStart: port_range.start, portRangeEnd: port_range.end })
  try {
    await ctx.db.update(servers).set(changes).where(eq(servers.id, id))
  } catch (err) {
    if (isUniqueViolation(err) && input.name) throw nameTaken(input.name)
    throw err
  }
  if (Object.values(proxySettings).some((v) => v !== undefined)) await syncProxyQuietly(ctx, id)
  return getServer(ctx, id)
}

/** Deletes a server: its agent token stops working and its agent is disconnected for good. */
export async function deleteServer(ctx: ActorContext, id: string): Promise<void> {
  await findServer(ctx, id)
  await ctx.db.batch([
    ctx.db.delete(enrollmentTokens).where(eq(enrollmentTokens.serverId, id)),
    ctx.db.delete(containerStats).where(eq(containerStats.serverId, id)),
    ctx.db.delete(containers).where(eq(containers.serverId, id)),
    ctx.db.delete(servers).where(eq(servers.id, id)),
  ])
  await ctx.hub.disconnect(id, 'revoked')
}

/** Issues a new enrollment token for a server; every earlier one stops working. */
export async function rotateEnrollment(
  ctx: ServiceContext,
  { id, ttlSeconds, apiUrl }: { id: string; ttlSeconds: number | undefined; apiUrl: string },
): Promise<Enrollment> {
  await findServer(ctx, id)
  const now = ctx.clock.now()
  const enrollment = await newEnrollment(ctx, { serverId: id, ttlSeconds, now })
  await ctx.db.batch([
    ctx.db.delete(enrollmentTokens).where(eq(enrollmentTokens.serverId, id)),
    ctx.db.insert(enrollmentTokens).values(enrollment.row),
  ])
  return enrollmentView(apiUrl, enrollment)
}

/**
 * Trades a one-time enrollment token for the server's long-lived agent token. The server
 * update and the token's use are one batch, so a token can be traded once only.
 */
export async function enrollAgent(
  ctx: ServiceContext,
  enrollmentToken: string,
): Promise<{ server_id: string; agent_token: string }> {
  const now = ctx.clock.now()
  const hash = await sha256Hex(enrollmentToken)
  const agentToken = newSecretToken('berth_agt')
  const agentTokenHash = await sha256Hex(agentToken)
  const usable = and(
    eq(enrollmentTokens.tokenHash, hash),
    isNull(enrollmentTokens.usedAt),
    gt(enrollmentTokens.expiresAt, now),
  )
  const [updated] = await ctx.db.batch([
    ctx.db
      .update(servers)
      .set({ agentTokenHash, updatedAt: now })
      .where(
        eq(servers.id, sql`(select ${enrollmentTokens.serverId} from ${enrollmentTokens} where ${usable})`),
      )
      .returning({ id: servers.id }),
    ctx.db.update(enrollmentTokens).set({ usedAt: now }).where(usable),
  ])
  const serverId = updated[0]?.id
  if (!serverId) {
    throw new ApiError('auth_error', 'the enrollment token is not valid, was already used, or has expired', {
      code: 'invalid_enrollment_token',
    })
  }
  // A host enrolled again replaces the agent that held the old token.
  await ctx.hub.disconnect(serverId, 'revoked')
  return { server_id: serverId, agent_token: agentToken }
}

/** The server an agent token belongs to, or an auth error. */
export async function authenticateAgent(ctx: ServiceContext, agentToken: string): Promise<string> {
  const [row] = await ctx.db
    .select({ id: servers.id })
    .from(servers)
    .where(eq(servers.agentTokenHash, await sha256Hex(agentToken)))
    .limit(1)
  if (!row) {
    throw new ApiError(
      'auth_error',
      'the agent token is not valid; the server was deleted or enrolled again',
      {
        code: 'invalid_agent_token',
      },
    )
  }
  return row.id
}

export async function recordAgentOnline(
  ctx: ServiceContext,
  { serverId, hello, at }: { serverId: string; hello: Hello; at: number },
): Promise<void> {
  await ctx.db
    .update(servers)
    .set({
      status: 'online',
      lastSeenAt: at,
      agentVersion: hello.agentVersion,
      hostname: hello.hostname,
      arch: hello.arch,
      os: hello.os,
      dockerVersion: hello.dockerVersion,
      cpus: hello.cpus,
      memoryBytes: hello.memoryBytes,
      agentContainer: hello.agentContainer ?? null,
      agentStateVolume: hello.stateVolume ?? null,
      proxy: hello.proxy ?? null,
      ipv4: hello.ipv4 ?? null,
    })
    .where(eq(servers.id, serverId))
}

export async function recordAgentOffline(
  ctx: ServiceContext,
  { serverId, at }: { serverId: string; at: number },
): Promise<void> {
  await ctx.db.update(servers).set({ status: 'offline', lastSeenAt: at }).where(eq(servers.id, serverId))
}

/**
 * How stale a connected server's stored last_seen_at may get: heartbeats are not written one
 * by one, so a thousand agents do not mean a thousand writes a second.
 */
export const LAST_SEEN_RESOLUTION_MS = 10_000
const SEEN_CHUNK = 90

export async function recordAgentsSeen(
  ctx: ServiceContext,
  { serverIds, at }: { serverIds: string[]; at: number },
): Promise<void> {
  for (let i = 0; i < serverIds.length; i += SEEN_CHUNK) {
    await ctx.db
      .update(servers)
      .set({ lastSeenAt: at })
      .where(inArray(servers.id, serverIds.slice(i, i + SEEN_CHUNK)))
    // A local database writes on this thread; let waiting frames through between chunks.
    await new Promise((resolve) => setTimeout(resolve, 0))
  }
}

/** Marks offline the servers no API instance has heard from for a while (one that died says nothing). */
export async function sweepSilentServers(ctx: ServiceContext): Promise<void> {
  const cutoff = ctx.clock.now() - 3 * ctx.config.heartbeatMs - LAST_SEEN_RESOLUTION_MS
  await ctx.db
    .update(servers)
    .set({ status: 'offline' })
    .where(and(eq(servers.status, 'online'), or(isNull(servers.lastSeenAt), lt(servers.lastSeenAt, cutoff))))
}

export async function pruneEnrollmentTokens(ctx: ServiceContext): Promise<void> {
  const now = ctx.clock.now()
  await ctx.db
    .delete(enrollmentTokens)
    .where(or(lt(enrollmentTokens.expiresAt, now), lt(enrollmentTokens.usedAt, now)))
}

export async function validateServer(ctx: ActorContext, id: string) {
  // A connected agent proves its server exists (deleting a server disconnects it).
  if (!(await ctx.hub.online(id))) await findServer(ctx, id)
  const started = performance.now()
  const result = await ctx.hub.call(id, 'docker.ping', {})
  const roundTripMs = performance.now() - started
  return { ok: true, round_trip_ms: round(roundTripMs), docker_ms: round(result.docker_ms) }
}

export async function serverResources(ctx: ActorContext, id: string): Promise<OpResult<'host.resources'>> {
  await findServer(ctx, id)
  return ctx.hub.call(id, 'host.resources', {})
}

const round = (ms: number) => Math.round(ms * 1000) / 1000

/** What the server's agent says of itself: open streams, uptime, memory. */
export async function agentStatus(ctx: ActorContext, id: string): Promise<OpResult<'agent.status'>> {
  await findServer(ctx, id)
  return ctx.hub.call(id, 'agent.status', {})
}
