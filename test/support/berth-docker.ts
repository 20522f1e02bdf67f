import { execFile } from 'node:child_process'
import { ciEnv, startBerth } from './cli.ts'
import { registerAdmin, startServerWithAgent } from './flows.ts'
import { type Child, ROOT, waitFor } from './process.ts'
import { type ApiTarget, startApi, type TargetOptions } from './target.ts'

// The real `docker` client and Compose through `berth docker`, against a real API, agent and Engine.

/** An API, its admin, and one server (its agent online) that `berth docker` reaches. */
export interface DockerServer {
  api: ApiTarget
  admin: string
  serverId: string
  /** BERTH_URL and BERTH_TOKEN of the admin, for `berth`. */
  env: Record<string, string>
  stop(): Promise<void>
}

export async function startDockerServer(name: string, options: TargetOptions = {}): Promise<DockerServer> {
  const api = await startApi(options)
  let agent: Child | undefined
  try {
    const admin = await registerAdmin(api.http)
    const server = await startServerWithAgent(api, admin, name)
    agent = server.agent
    const stop = async () => {
      await agent?.stop()
      await api.stop()
    }
    return { api, admin, serverId: server.serverId, env: ciEnv(api.url, admin), stop }
  } catch (err) {
    await agent?.stop()
    await api.stop()
    throw err
  }
}

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a program (`docker`, `docker-compose`, the `berth` bundle) to its end, without a terminal. */
export function runProgram(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  input = '',
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr })
      },
    )
    child.stdin?.end(input)
  })
}

/** `berth docker SERVER --socket PATH` (or `--listen …`) left running, with the DOCKER_HOST it gave. */
export async function keepEndpoint(
  env: Record<string, string>,
  server: string,
  where: string[],
): Promise<{ child: Child; dockerHost: string }> {
  const child = startBerth(['docker', server, ...where, '--json'], { env })
  const line = await waitFor('the endpoint to be open', () => child.output.match(/^\{.*\}$/m)?.[0], 20_000)
  return { child, dockerHost: JSON.parse(line).docker_host as string }
}
