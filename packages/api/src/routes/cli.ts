import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
import { bundleDownload } from './download.ts'

// The `berth` command-line tool, for `curl -o berth …/cli/download`; like the agent, no login needed.
export const cliRoutes = new Hono<AppEnv>().get('/download', async (c) =>
  bundleDownload(c, await c.get('deps').cliBundle(), 'berth.mjs'),
)
