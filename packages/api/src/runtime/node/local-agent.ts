import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { log } from '../../lib/log.ts'
import { createServer, findServerByName, rotateEnrollment } from '../../services/servers.ts'
import type { NodeConfig } from './config.ts'
import type { RunningApi } from './serve.ts'

export const LOCAL_SERVER = 'local'

/** The Docker Engine socket of this host, when one answers a ping. */
export async function reachableDocker(dockerHost: string | undefined): Promise<string | null> {
  const socketPath = dockerHost?.startsWith('unix://')
    ? dockerHost.slice(7)
    : dockerHost
      ? null
      : '/var/run/docker.sock'
  if (!socketPath || !existsSync(socketPath)) return null
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200 ? socketPath : null)
    })
    req.on('error', () => resolve(null))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

/**
 * Runs an agent inside the API process for this host's Docker Engine, enrolled as the server
 * named `local`; its agent token is kept in the data folder like any agent's state file.
 */
export async function startLocalAgent(api: RunningApi, config: NodeConfig, dockerSocket: string) {
  const statePath = join(config.dataDir, 'local-agent.json')
  let token: string | undefined
  if (!existsSync(statePath)) {
    const existing = await findServerByName(api.ctx, LOCAL_SERVER)
    token = existing
      ? (await rotateEnrollment(api.ctx, existing.id, undefined, api.url)).token
      : (
          await createServer(
            api.ctx,
            { name: LOCAL_SERVER, description: 'The host the API runs on' },
            api.url,
          )
        ).enrollment.token
  }
  // Loaded only when a local agent runs, so an API without Docker never loads dockerode.
  const { startAgent } = await import('@berth/agent')
  const agent = startAgent({ api: api.url, token, statePath, docker: dockerSocket })
  agent.done.then(
    (outcome) =>
      outcome.reason === 'revoked' &&
      log.warn('the local agent was revoked; delete data/local-agent.json to enroll it again'),
    (err) => log.error('the local agent stopped', err),
  )
  return agent
}
