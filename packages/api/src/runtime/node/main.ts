import { count } from 'drizzle-orm'
import { users } from '../../db/schema.ts'
import { log } from '../../lib/log.ts'
import { loadConfig } from './config.ts'
import { LOCAL_SERVER, localAgentFiles, reachableDocker, startLocalAgent } from './local-agent.ts'
import { startNodeApi } from './serve.ts'

// `npm start`: the API on Node with its libSQL database, and a local agent when Docker answers.

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>
  try {
    config = loadConfig()
  } catch (err) {
    console.error(`berth: ${(err as Error).message}`)
    process.exitCode = 1
    return
  }
  const api = await startNodeApi(config)
  const shownUrl = config.publicUrl ?? `http://localhost:${api.port}`
  const out: string[] = [
    `Berth ${config.version}: API on ${shownUrl}/api/v1 (database ${config.databaseUrl})`,
    `Dashboard: ${shownUrl}/`,
  ]

  if (config.localAgent === 'auto') {
    const socket = await reachableDocker(config.dockerHost)
    if (socket) {
      const agent = await startLocalAgent(api, config, socket)
      const files = localAgentFiles(config.dataDir)
      out.push(
        agent.started
          ? `Local agent: started for server "${LOCAL_SERVER}" on the Docker Engine at ${socket} (pid ${agent.pid}, output in ${files.log})`
          : `Local agent: running already for server "${LOCAL_SERVER}" (pid ${agent.pid})`,
        `  It keeps its apps running when the API stops; to stop it: kill $(cat ${files.pid})`,
      )
    } else {
      out.push(
        'Local agent: no Docker Engine answered at /var/run/docker.sock (set DOCKER_HOST), so none was started',
      )
    }
  }

  const [row] = await api.db.select({ n: count() }).from(users)
  if ((row?.n ?? 0) === 0) {
    out.push(
      `Create the first user (it becomes the admin) on the dashboard's sign-in page, or with curl:`,
      `  curl -X POST ${shownUrl}/api/v1/auth/register -H 'Content-Type: application/json' \\`,
      `    -d '{"email":"you@example.com","password":"a long password"}'`,
    )
  }
  out.push(
    `Then log in (POST ${shownUrl}/api/v1/auth/login) and add servers with POST /api/v1/servers.`,
    `Health: ${shownUrl}/api/v1/health`,
  )
  console.log(out.join('\n'))

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info(`${signal}: shutting down`)
    await api.close()
  }
  process.once('SIGTERM', () => void stop('SIGTERM'))
  process.once('SIGINT', () => void stop('SIGINT'))
}

main().catch((err) => {
  log.error('berth failed to start', err)
  process.exitCode = 1
})
