import { queryFlag } from '@berth/shared'
import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { streamFollow } from '../lib/sse.ts'
import { actorContext, bearerOf, query, requireAuth } from '../middleware.ts'
import { holdFollow } from '../services/clients.ts'
import { cancelDeployment } from '../services/deployments/commands.ts'
import { followDeploymentLogs } from '../services/deployments/follow.ts'
import { deploymentLines, findDeployment, toDeploymentView } from '../services/deployments/read.ts'

const logsQuery = z.object({
  follow: queryFlag.default(false),
  /** Lines after this seq only (what Last-Event-ID says for a reconnecting EventSource). */
  after: z.coerce.number().int().min(-1).optional(),
})

const id = (c: Context<AppEnv>) => c.req.param('id') ?? ''

/** Deployment routes, mounted under /deployments. */
export const deploymentRoutes = new Hono<AppEnv>()
  .get('/:id', requireAuth('read'), async (c) =>
    c.json({ deployment: toDeploymentView(await findDeployment(actorContext(c), id(c))) }, 200),
  )
  .post('/:id/cancel', requireAuth('write'), async (c) =>
    c.json({ deployment: await cancelDeployment(actorContext(c), id(c)) }, 202),
  )
  /**
   * Build and deploy output. Plain: the stored lines as JSON. With `follow=true` (or an
   * EventSource's Accept): SSE, one `log` event per line with its seq as the event id, `state`
   * events as the deployment moves on, and `end` when it is over. A reconnecting client sends
   * Last-Event-ID and gets the lines after it, none twice.
   */
  .get('/:id/logs', requireAuth('read'), query(logsQuery), async (c) => {
    const ctx = actorContext(c)
    const q = c.req.valid('query')
    const row = await findDeployment(ctx, id(c))
    const lastEventId = Number.parseInt(c.req.header('Last-Event-ID') ?? '', 10)
    const after = Number.isFinite(lastEventId) ? lastEventId : (q.after ?? -1)
    const wantsFollow = q.follow || (c.req.header('Accept') ?? '').includes('text/event-stream')
    if (!wantsFollow) {
      return c.json({ lines: await deploymentLines(ctx, { id: row.id, after }), state: row.state }, 200)
    }
    const held = await holdFollow(ctx, {
      bearer: bearerOf(c),
      open: () => followDeploymentLogs(ctx, { id: row.id, after }),
    })
    return streamFollow(c, held, {
      item: (sse, event) => {
        if (event.type === 'log') {
          return sse.writeSSE({ event: 'log', id: String(event.line.seq), data: JSON.stringify(event.line) })
        }
        if (event.type === 'state') {
          return sse.writeSSE({ event: 'state', data: JSON.stringify({ state: event.state }) })
        }
        return sse.writeSSE({
          event: 'end',
          data: JSON.stringify({ state: event.state, reason: event.reason }),
        })
      },
    })
  })
