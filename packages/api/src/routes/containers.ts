import {
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
import { streamSSE } from 'hono/streaming'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { ApiError } from '../errors.ts'
import { errorEvent, sseEvent } from '../lib/sse.ts'
import { actorContext, bearerOf, jsonBody, optionalJsonBody, query, requireAuth } from '../middleware.ts'
import {
  type ContainerAction,
  containerAction,
  containerLogs,
  containerStatsHistory,
  containerStatsNow,
  createContainer,
  followContainerLogs,
  getContainer,
  listContainers,
  removeContainer,
  replacePorts,
  updateContainer,
} from '../services/containers.ts'

const deleteQuery = z.object({ force: queryFlag.default(false), volumes: queryFlag.default(false) })
const inspectQuery = z.object({ reveal: queryFlag.default(false) })

const params = (c: Context<AppEnv>) => [c.req.param('sid') ?? '', c.req.param('cid') ?? ''] as const

/** Container routes, mounted under /servers/:sid/containers. */
export const containerRoutes = new Hono<AppEnv>()
  .get('/', requireAuth('read'), query(containerListQuery), async (c) =>
    c.json(await listContainers(actorContext(c), params(c)[0], c.req.valid('query')), 200),
  )
  .post('/', requireAuth('write'), jsonBody(createContainerBody), async (c) => {
    const container = await createContainer(actorContext(c), params(c)[0], c.req.valid('json'))
    c.set('auditTarget', container.id)
    return c.json({ container }, 201)
  })
  .get('/:cid', requireAuth('read'), query(inspectQuery), async (c) => {
    const [sid, cid] = params(c)
    return c.json(
      { container: await getContainer(actorContext(c), sid, cid, c.req.valid('query').reveal) },
      200,
    )
  })
  .patch('/:cid', requireAuth('write'), jsonBody(updateContainerBody), async (c) => {
    const [sid, cid] = params(c)
    return c.json(await updateContainer(actorContext(c), sid, cid, c.req.valid('json')), 200)
  })
  .put('/:cid/ports', requireAuth('write'), jsonBody(replacePortsBody), async (c) => {
    const [sid, cid] = params(c)
    return c.json(await replacePorts(actorContext(c), sid, cid, c.req.valid('json').ports), 200)
  })
  .delete('/:cid', requireAuth('write'), query(deleteQuery), async (c) => {
    const [sid, cid] = params(c)
    const { force, volumes } = c.req.valid('query')
    await removeContainer(actorContext(c), sid, cid, force, volumes)
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
    const [sid, cid] = params(c)
    const q = c.req.valid('query')
    const ctx = actorContext(c)
    if (!q.follow) return c.json({ logs: await containerLogs(ctx, sid, cid, q) }, 200)
    const logs = await followContainerLogs(ctx, bearerOf(c), sid, cid, q)
    return streamSSE(c, async (sse) => {
      sse.onAbort(() => logs.cancel())
      let seq = 0
      try {
        // One write per chunk from the agent, whatever the number of lines in it.
        for await (const batch of logs) {
          await sse.write(batch.map((entry) => sseEvent(entry.stream, JSON.stringify(entry), seq++)).join(''))
        }
      } catch (err) {
        if (!(err instanceof ApiError)) throw err
        await sse.writeSSE(errorEvent(err, c.get('requestId'), c.get('deps').clock.now()))
        return
      }
      await sse.writeSSE({ event: 'end', data: JSON.stringify({ reason: 'container stopped' }) })
    })
  })
  .get('/:cid/stats', requireAuth('read'), async (c) => {
    const [sid, cid] = params(c)
    return c.json({ stats: await containerStatsNow(actorContext(c), sid, cid) }, 200)
  })
  .get('/:cid/stats/history', requireAuth('read'), query(statsHistoryQuery), async (c) => {
    const [sid, cid] = params(c)
    return c.json(await containerStatsHistory(actorContext(c), sid, cid, c.req.valid('query').since), 200)
  })

async function act(c: Context<AppEnv>, action: ContainerAction, opts: { timeout?: number; signal?: string }) {
  const [sid, cid] = params(c)
  return c.json({ container: await containerAction(actorContext(c), sid, cid, action, opts) }, 200)
}
