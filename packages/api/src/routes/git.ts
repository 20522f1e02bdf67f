import { plainText } from '@berth/shared'
import { type Context, Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { actorContext, jsonBody, optionalJsonBody, query, requireAuth } from '../middleware.ts'
import { type GitAction, type GitInput, runGit } from '../services/git.ts'

// Names are checked against git's ref rules by the agent, which runs git.
const name = plainText(z.string().min(1).max(255))
const pathQuery = z.object({
  path: z.string().min(1).max(4096).startsWith('/', 'an absolute path in the container').optional(),
})
const pullBody = z.object({ remote: name.optional(), branch: name.optional() }).strict()
const checkoutBody = z.object({ branch: name, create: z.boolean().optional() }).strict()

/** Git in a container's checkout, mounted under /servers/:sid/containers: `/:cid/git/…`. */
export const gitRoutes = new Hono<AppEnv>()
  .post('/:cid/git/init', requireAuth('write'), query(pathQuery), (c) => git(c, 'init', c.req.valid('query')))
  .post('/:cid/git/pull', requireAuth('write'), query(pathQuery), optionalJsonBody(pullBody), (c) =>
    git(c, 'pull', { ...c.req.valid('query'), ...c.req.valid('json') }),
  )
  .post('/:cid/git/checkout', requireAuth('write'), query(pathQuery), jsonBody(checkoutBody), (c) =>
    git(c, 'checkout', { ...c.req.valid('query'), ...c.req.valid('json') }),
  )
  .get('/:cid/git/head', requireAuth('read'), query(pathQuery), (c) => git(c, 'head', c.req.valid('query')))
  .get('/:cid/git/branches', requireAuth('read'), query(pathQuery), (c) =>
    git(c, 'branches', c.req.valid('query')),
  )
  .get('/:cid/git/branch', requireAuth('read'), query(pathQuery), (c) =>
    git(c, 'branch', c.req.valid('query')),
  )

async function git(c: Context<AppEnv>, action: GitAction, input: GitInput) {
  const result = await runGit(actorContext(c), {
    serverId: c.req.param('sid') ?? '',
    ref: c.req.param('cid') ?? '',
    action,
    ...input,
  })
  return c.json({ git: result }, 200)
}
