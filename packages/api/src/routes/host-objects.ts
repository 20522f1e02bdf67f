import { createNetworkBody, createVolumeBody, pullImageBody, queryFlag } from '@berth/shared'
import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { actorContext, jsonBody, optionalJsonBody, query, requireAuth } from '../middleware.ts'
import {
  createNetwork,
  createVolume,
  listImages,
  listNetworks,
  listVolumes,
  pruneImages,
  pruneVolumes,
  pullImage,
  removeImage,
  removeNetwork,
  removeVolume,
} from '../services/host-objects.ts'

const forceQuery = z.object({ force: queryFlag.default(false) })
const pruneImagesBody = z.object({ all: z.boolean().default(false) }).strict()
const sid = (c: Context<AppEnv>) => c.req.param('sid') ?? ''

/** Images, volumes and networks of a server, mounted under /servers/:sid. */
export const hostObjectRoutes = new Hono<AppEnv>()
  .get('/images', requireAuth('read'), async (c) => c.json(await listImages(actorContext(c), sid(c)), 200))
  .post('/images/pull', requireAuth('write'), jsonBody(pullImageBody), async (c) =>
    c.json(await pullImage(actorContext(c), { serverId: sid(c), image: c.req.valid('json').image }), 200),
  )
  .post('/images/prune', requireAuth('write'), optionalJsonBody(pruneImagesBody), async (c) =>
    c.json(await pruneImages(actorContext(c), { serverId: sid(c), all: c.req.valid('json').all }), 200),
  )
  // Image references hold slashes and colons (`registry/name:tag`), so the id takes the rest of the path.
  .delete('/images/:ref{.+}', requireAuth('write'), query(forceQuery), async (c) =>
    c.json(
      await removeImage(actorContext(c), {
        serverId: sid(c),
        ref: c.req.param('ref'),
        force: c.req.valid('query').force,
      }),
      200,
    ),
  )
  .get('/volumes', requireAuth('read'), async (c) => c.json(await listVolumes(actorContext(c), sid(c)), 200))
  .post('/volumes', requireAuth('write'), jsonBody(createVolumeBody), async (c) =>
    c.json(await createVolume(actorContext(c), { serverId: sid(c), body: c.req.valid('json') }), 201),
  )
  .post('/volumes/prune', requireAuth('write'), async (c) =>
    c.json(await pruneVolumes(actorContext(c), sid(c)), 200),
  )
  .delete('/volumes/:name', requireAuth('write'), query(forceQuery), async (c) => {
    await removeVolume(actorContext(c), {
      serverId: sid(c),
      name: c.req.param('name'),
      force: c.req.valid('query').force,
    })
    return c.body(null, 204)
  })
  .get('/networks', requireAuth('read'), async (c) =>
    c.json(await listNetworks(actorContext(c), sid(c)), 200),
  )
  .post('/networks', requireAuth('write'), jsonBody(createNetworkBody), async (c) =>
    c.json(await createNetwork(actorContext(c), { serverId: sid(c), body: c.req.valid('json') }), 201),
  )
  .delete('/networks/:ref', requireAuth('write'), async (c) => {
    await removeNetwork(actorContext(c), { serverId: sid(c), ref: c.req.param('ref') })
    return c.body(null, 204)
  })
