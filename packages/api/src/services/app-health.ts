import { APP_LABELS, appHealthEvent, appRestartEvent } from '@berth/shared'
import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { ActorContext, ServiceContext } from '../context.ts'
import { boundSlices } from '../db/index.ts'
import { appHealth, apps, containers } from '../db/schema.ts'
import { log } from '../lib/log.ts'
import { iso } from '../lib/time.ts'
import { findApp } from './apps.ts'
import { statsHistory } from './stats.ts'

/** Probe results and restarts kept per app; older ones are dropped as new ones come. */
export const HEALTH_KEPT = 500

/** An `app.health` or `app.restarted` event from a server's agent. */
export async function recordAppEvent(
  ctx: ServiceContext,
  { serverId, kind, data }: { serverId: string; kind: string; data: unknown },
) {
  const parsed =
    kind === 'app.health'
      ? appHealthEvent.safeParse(data)
      : appRestartEvent
          .transform((r) => ({
            results: [{ ...r, at: ctx.clock.now(), ok: false, ms: null, error: r.reason, restart: true }],
          }))
          .safeParse(data)
  if (!parsed.success) {
    log.warn(`server ${serverId} sent an ${kind} event that does not parse`)
    return
  }
  const results = parsed.data.results
  const appIds = [...new Set(results.map((r) => r.app_id))]
  if (appIds.length === 0) return
  // Only apps of this server: an agent speaks for its own host alone.
  const own = await ctx.db
    .select({ id: apps.id })
    .from(apps)
    .where(and(eq(apps.serverId, serverId), inArray(apps.id, appIds)))
  const ownIds = new Set(own.map((a) => a.id))
  const rows = results
    .filter((r) => ownIds.has(r.app_id))
    .map((r) => ({
      appId: r.app_id,
      dockerId: r.docker_id,
      at: r.at,
      kind: 'restart' in r ? ('restart' as const) : ('probe' as const),
      ok: r.ok,
      ms: r.ms,
      error: r.error,
    }))
  for (const slice of boundSlices(rows, 7)) await ctx.db.insert(appHealth).values(slice)
  for (const appId of ownIds) {
    await ctx.db.run(
      sql`delete from app_health where app_id = ${appId} and id <= (select id from app_health where app_id = ${appId} order by id desc limit 1 offset ${HEALTH_KEPT})`,
    )
  }
}

/** The app's latest probe results and self-healing restarts, newest first. */
export async function getAppHealth(ctx: ActorContext, { appId, limit }: { appId: string; limit: number }) {
  const app = await findApp(ctx, appId)
  const rows = await ctx.db
    .select()
    .from(appHealth)
    .where(eq(appHealth.appId, appId))
    .orderBy(desc(appHealth.id))
    .limit(limit)
  const probes = rows.filter((r) => r.kind === 'probe')
  const latest = probes[0]
  return {
    health: {
      app_id: appId,
      check: app.healthCheck,
      status: !app.healthCheck ? 'none' : !latest ? 'unknown' : latest.ok ? 'healthy' : 'unhealthy',
      results: probes.map((r) => ({
        container: r.dockerId,
        at: iso(r.at),
        ok: r.ok,
        ms: r.ms,
        error: r.error,
      })),
      restarts: rows
        .filter((r) => r.kind === 'restart')
        .map((r) => ({ container: r.dockerId, at: iso(r.at), reason: r.error })),
    },
  }
}

/** The stats series of each of the app's containers on its server. */
export async function getAppStats(ctx: ActorContext, { appId, since }: { appId: string; since?: number }) {
  const app = await findApp(ctx, appId)
  const rows = await ctx.db.select().from(containers).where(eq(containers.serverId, app.serverId))
  const own = rows.filter((r) => r.labels[APP_LABELS.app] === appId && r.status === 'running')
  return {
    stats: await Promise.all(
      own.map(async (r) => ({
        container_id: r.id,
        docker_id: r.dockerId,
        deployment_id: r.labels[APP_LABELS.deployment] ?? null,
        samples: await statsHistory(ctx, { containerId: r.id, since }),
      })),
    ),
  }
}
