import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'

/** Git in a container's checkout, mounted under /servers/:sid/containers: `/:cid/git/…`. */
export const gitRoutes = new Hono<AppEnv>()
