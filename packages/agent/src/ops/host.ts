import { statfs } from 'node:fs/promises'
import os from 'node:os'
import type { OpResult } from '@berth/shared'
import { OpError } from '../errors.ts'
import { messageOf } from '../log.ts'
import type { OpHandlers } from './context.ts'

export const hostOps: Pick<OpHandlers, 'docker.ping' | 'host.resources' | 'agent.status'> = {
  'docker.ping': async (_args, { docker, signal }) => {
    const started = performance.now()
    await docker.ping(signal)
    return { docker_ms: Math.round((performance.now() - started) * 100) / 100 }
  },

  'host.resources': async (_args, { docker, signal }) => {
    const info = await docker.info(signal)
    const total = os.totalmem()
    const free = os.freemem()
    const [one, five, fifteen] = os.loadavg()
    return {
      cpus: os.cpus().length,
      load: [one ?? 0, five ?? 0, fifteen ?? 0],
      memory: { total, used: total - free, free },
      disk: await diskOf(info.rootDir),
      uptime_s: Math.round(os.uptime()),
      docker: { containers: info.containers, running: info.running, images: info.images },
    }
  },

  'agent.status': async (_args, { agent }) => {
    const streams = agent.openStreams()
    return {
      open_streams: streams.length,
      streams,
      uptime_s: Math.round(process.uptime()),
      rss_bytes: process.memoryUsage.rss(),
    }
  },
}

/** Space on the file system of Docker's data, or of `/` when the agent cannot see Docker's folder. */
async function diskOf(dockerRoot: string | null): Promise<OpResult<'host.resources'>['disk']> {
  for (const path of dockerRoot ? [dockerRoot, '/'] : ['/']) {
    try {
      const fs = await statfs(path)
      return {
        path,
        total: fs.blocks * fs.bsize,
        used: (fs.blocks - fs.bfree) * fs.bsize,
        free: fs.bavail * fs.bsize,
      }
    } catch (err) {
      if (path === '/') throw new OpError('agent_error', `cannot read the disk usage of /: ${messageOf(err)}`)
    }
  }
  throw new OpError('agent_error', 'cannot read the disk usage of /')
}
