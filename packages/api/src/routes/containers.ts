import {
  allContainersQuery,
  containerListQuery,
  createContainerBody,
  killBody,
  logsQuery,
  queryFlag,
  replacePortsBody,
  statsHistoryQuery,
  stopBody,
  updateContainerBody,
} from '@berth/shared'
import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { sseEvent, streamFollow } from '../lib/sse.ts'
import { actorContext, bearerOf, jsonBody, optionalJsonBody, query, requireAuth } from '../middleware.ts'
import { holdFollow } from '../services/clients.ts'
import { listAllContainers, listContainers } from '../services/container-lists.ts'
import { containerLogs, followContainerLogs } from '../services/container-logs.ts'
import {
  type ContainerAction,
  containerAction,
  containerStatsHistory,
  containerStatsNow,
  createContainer,
  getContainer,
  removeContainer,
  replacePorts,
  updateContainer,
} from '../services/containers.ts'

const deleteQuery = z.object({ force: queryFlag.default(false), volumes: queryFlag.default(false) })
const inspectQuery = z.object({ reveal: queryFlag.default(false) })

const params = (c: Context<AppEnv>) => [c.req.param('sid') ?? '', c.req.param('cid') ?? ''] as const

/** `GET /containers`: the containers of every server (or one) in one list. */
export const allContainerRoutes = new Hono<AppEnv>().get(
  '/',
  requireAuth('read'),
  query(allContainersQuery),
  async (c) => c.json(await listAllContainers(actorContext(c), { query: c.req.valid('query') }), 200),
)

/** Container routes, mounted under /servers/:sid/containers. */
export const containerRoutes = new Hono<AppEnv>()
  .get('/', requireAuth('read'), query(containerListQuery), async (c) =>
    c.json(
      await listContainers(actorContext(c), { serverId: params(c)[0], query: c.req.valid('query') }),
      200,
    ),
  )
  .post('/', requireAuth('write'), jsonBody(createContainerBody), async (c) => {
    const container = await createContainer(actorContext(c), {
      serverId: params(c)[0],
      body: c.req.valid('json'),
    })
    c.set('auditTarget', container.id)
    return c.json({ container }, 201)
  })
  .get('/:cid', requireAuth('read'), query(inspectQuery), async (c) => {
    const [serverId, ref] = params(c)
    return c.json(
      {
        container: await getContainer(actorContext(c), {
          serverId,
          ref,
          reveal: c.req.valid('query').reveal,
        }),
      },
      200,
    )
  })
  .patch('/:cid', requireAuth('write'), jsonBody(updateContainerBody), async (c) => {
    const [serverId, ref] = params(c)
    return c.json(
      await updateContainer(actorContext(c), { serverId, ref, changes: c.req.valid('json') }),
      200,
    )
  })
  .put('/:cid/ports', requireAuth('write'), jsonBody(replacePortsBody), async (c) => {
    const [serverId, ref] = params(c)
    return c.json(
      await replacePorts(actorContext(c), { serverId, ref, ports: c.req.valid('json').ports }),
      200,
    )
  })
  .delete('/:cid', requireAuth('write'), query(deleteQuery), async (c) => {
    const [serverId, ref] = params(c)
    const { force, volumes } = c.req.valid('query')
    await removeContainer(actorContext(c), { serverId, ref, force, volumes })
    return c.body(null, 204)
  })
  .post('/:cid/start', requireAuth('write'), (c) => act(c, 'start', {}))
  .post('/:cid/pause', requireAuth('write'), (c) => act(c, 'pause', {}))
  .post('/:cid/unpause', requireAuth('write'), (c) => act(c, 'unpause', {}))
  .post('/:cid/stop', requireAuth('write'), optionalJsonBody(stopBody), (c) =>
    act(c, 'stop', c.req.valid('json')),
  )
  .post('/:cid/restart', requireAuth('write'), optionalJsonBody(stopBody), (c) =>
    act(c, 'restart', c.req.valid('json')),
  )
  .post('/:cid/kill', requireAuth('write'), optionalJsonBody(killBody), (c) =>
    act(c, 'kill', c.req.valid('json')),
  )
  .get('/:cid/logs', requireAuth('read'), query(logsQuery), async (c) => {
    const [serverId, ref] = params(c)
    const q = c.req.valid('query')
    const ctx = actorContext(c)
    if (!q.follow) return c.json({ logs: await containerLogs(ctx, { serverId, ref, query: q }) }, 200)
    const held = await holdFollow(ctx, {
      bearer: bearerOf(c),
      open: () => followContainerLogs(ctx, { serverId, ref, query: q }),
    })
    let seq = 0
    return streamFollow(c, held, {
      // One write per chunk from the agent, whatever the number of lines in it.
      item: (sse, batch) =>
        sse.write(batch.map((entry) => sseEvent(entry.stream, JSON.stringify(entry), seq++)).join('')),
      done: (sse) => sse.writeSSE({ event: 'end', data: JSON.stringify({ reason: 'container stopped' }) }),
    })
  })
  .get('/:cid/stats', requireAuth('read'), async (c) => {
    const [serverId, ref] = params(c)
    return c.json({ stats: await containerStatsNow(actorContext(c), { serverId, ref }) }, 200)
  })
  .get('/:cid/stats/history', requireAuth('read'), query(statsHistoryQuery), async (c) => {
    const [serverId, ref] = params(c)
    return c.json(
      await containerStatsHistory(actorContext(c), { serverId, ref, since: c.req.valid('query').since }),
      200,
    )
  })

async function act(c: Context<AppEnv>, action: ContainerAction, opts: { timeout?: number; signal?: string }) {
  const [serverId, ref] = params(c)
  return c.json(
    { container: await containerAction(actorContext(c), { serverId, ref, action, ...opts }) },
    200,
  )
}
