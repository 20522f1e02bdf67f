import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'

/** Files in a container, mounted under /servers/:sid/containers: `/:cid/files`. */
export const fileRoutes = new Hono<AppEnv>()
