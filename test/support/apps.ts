import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect } from 'vitest'
import { startAgentProcess } from './agent.ts'
import { docker, removeContainers, TEST_IMAGE } from './docker.ts'
import { registerAdmin, startServerWithAgent } from './flows.ts'
import { git } from './git.ts'
import { type Child, waitFor } from './process.ts'
import { type ApiTarget, startApi, type TargetOptions } from './target.ts'

// Apps end to end: a real API, a real agent process, the real Docker Engine and real git.
// Apps are built from bare repositories made here and cloned by the agent over file://.

/** The app the tests build: busybox httpd serving index.html, and the env it was started with. */
export function dockerfile(extra = '') {
  return [
    `FROM ${TEST_IMAGE}`,
    'COPY index.html /www/index.html',
    extra,
    `CMD ["sh", "-c", "env > /www/env.txt; trap 'exit 0' TERM; httpd -f -p 3000 -h /www & wait"]`,
  ]
    .filter(Boolean)
    .join('\n')
}

export interface Repository {
  url: string
  /** Commits `files` on `branch`, pushes, and returns the sha. */
  commit(files: Record<string, string>, message: string, branch?: string): string
}

/** A bare repository in `work` and a checkout to commit into. */
export function repository(work: string, name: string): Repository {
  const bare = join(work, `${name}.git`)
  const checkout = join(work, name)
  git(work, 'init', '--bare', '--initial-branch=main', bare)
  git(work, 'clone', bare, checkout)
  git(checkout, 'checkout', '-b', 'main')
  return {
    url: `file://${bare}`,
    commit(files, message, branch = 'main') {
      git(checkout, 'checkout', '-B', branch)
      for (const [file, content] of Object.entries(files)) writeFileSync(join(checkout, file), content)
      git(checkout, 'add', '-A')
      git(checkout, 'commit', '-m', message)
      git(checkout, 'push', '-f', 'origin', branch)
      return git(checkout, 'rev-parse', 'HEAD')
    },
  }
}

/** Fetches a page of an app from its host port; throws on any status but 200. */
export async function fetchApp(port: number, path = '/'): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  if (res.status !== 200) throw new Error(`status ${res.status}`)
  return res.text()
}

/** Containers on the host that belong to a deployment, as `docker` sees them. */
export const containersOf = (deploymentId: string) =>
  docker('ps', '-aq', '--filter', `label=berth.deployment=${deploymentId}`).split('\n').filter(Boolean)
export const imageExists = (tag: string) => docker('images', '-q', tag) !== ''

const FINAL = ['running', 'failed', 'cancelled', 'superseded']

export interface GitAppOptions {
  /** Distinguishes the app's name, which the host prefixes with its run. */
  name: string
  /** The first commit; a Dockerfile and an index.html saying "version one" when not given. */
  files?: Record<string, string>
  /** More of the app's create body (env, volumes, health_check…). */
  body?: Record<string, unknown>
}

/** An API with its admin and one server whose agent is online, where each test builds its own apps. */
export interface AppHost {
  api: ApiTarget
  admin: string
  serverId: string
  /** The agent process of the server; replaced by `restartAgent`. */
  agent: Child
  /** A temp folder for repositories and build contexts. */
  work: string
  /** An app name unique to this run, so what the tests leave on the host is found and removed. */
  appName(what: string): string
  /** Starts the agent again from its state file (enrolled already). */
  restartAgent(): void
  createApp(body: Record<string, unknown>): Promise<any>
  deploy(appId: string, body?: unknown): Promise<any>
  waitDeployment(id: string, timeoutMs?: number): Promise<any>
  waitState(id: string, state: string, timeoutMs?: number): Promise<void>
  hostPort(appId: string): Promise<number>
  /** A git app from a repository of its own with one commit, not deployed yet. */
  gitApp(opts: GitAppOptions): Promise<{ app: any; repo: Repository; sha: string }>
  /** A git app deployed once and running: `deployment` is that first deployment. */
  deployedApp(opts: GitAppOptions): Promise<{ app: any; repo: Repository; deployment: any }>
}

/**
 * Starts an AppHost before the file's tests and removes all it made after them. `caddy`, when
 * given, is called first and the agent drives the Caddy it returns.
 */
export function appHost(
  options: TargetOptions = { env: { BERTH_MAINTENANCE_MS: '1000' } },
  caddy?: () => Promise<{ agentEnv: Record<string, string> }>,
): AppHost {
  let agentCaddy: { agentEnv: Record<string, string> } | undefined
  const run = Math.random().toString(36).slice(2, 7)
  let stateDir = ''
  const host = {
    appName: (what: string) => `t${run}-${what}`,
    restartAgent() {
      host.agent = startAgentProcess({ api: host.api.url, stateDir, caddy: agentCaddy })
    },
    async createApp(body: Record<string, unknown>) {
      const res = await host.api.http.post('/apps', {
        token: host.admin,
        body: { server_id: host.serverId, port: 3000, ...body },
      })
      expect(res.status, res.text).toBe(201)
      return res.body.app
    },
    async deploy(appId: string, body?: unknown) {
      const res = await host.api.http.post(`/apps/${appId}/deploy`, { token: host.admin, body })
      expect(res.status, res.text).toBe(202)
      return res.body.deployment
    },
    waitDeployment(id: string, timeoutMs = 60_000) {
      return waitFor(
        `deployment ${id} to finish`,
        async () => {
          const res = await host.api.http.get(`/deployments/${id}`, { token: host.admin })
          return FINAL.includes(res.body.deployment?.state) ? res.body.deployment : undefined
        },
        timeoutMs,
        200,
      )
    },
    async waitState(id: string, state: string, timeoutMs = 30_000) {
      await waitFor(
        `deployment ${id} to be ${state}`,
        async () =>
          (await host.api.http.get(`/deployments/${id}`, { token: host.admin })).body.deployment?.state ===
          state,
        timeoutMs,
      )
    },
    async hostPort(appId: string) {
      const res = await host.api.http.get(`/apps/${appId}`, { token: host.admin })
      expect(res.body.app.host_port).toEqual(expect.any(Number))
      return res.body.app.host_port as number
    },
    async gitApp({ name, files, body }: GitAppOptions) {
      const repo = repository(host.work, name)
      const first = files ?? { Dockerfile: dockerfile(), 'index.html': 'version one\n' }
      const sha = repo.commit(first, 'first version')
      const app = await host.createApp({
        name: host.appName(name),
        source: { type: 'git', url: repo.url, branch: 'main' },
        ...body,
      })
      return { app, repo, sha }
    },
    async deployedApp(opts: GitAppOptions) {
      const { app, repo } = await host.gitApp(opts)
      const deployment = await host.waitDeployment((await host.deploy(app.id)).id)
      expect(deployment.state, deployment.reason).toBe('running')
      return { app, repo, deployment }
    },
  } as AppHost

  beforeAll(async () => {
    host.work = mkdtempSync(join(os.tmpdir(), 'berth-apps-'))
    host.api = await startApi(options)
    host.admin = await registerAdmin(host.api.http)
    agentCaddy = await caddy?.()
    const started = await startServerWithAgent(host.api, host.admin, 'app-host', agentCaddy)
    ;({ serverId: host.serverId, agent: host.agent, stateDir } = started)
  })

  afterAll(async () => {
    const { api, admin } = host
    if (api && admin) {
      const apps = (await api.http.get('/apps?limit=200', { token: admin })).body.apps ?? []
      for (const app of apps) await api.http.delete(`/apps/${app.id}?volumes=true`, { token: admin })
    }
    await host.agent?.stop()
    // One listing with the labels: another file's containers may go between a list and an inspect.
    const ours = docker('ps', '-a', '--format', '{{.ID}} {{.Label "berth.app.name"}}')
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, app]) => app?.startsWith(`t${run}-`))
      .map(([id]) => id as string)
    removeContainers(ours)
    const images = docker('images', '--format', '{{.Repository}}:{{.Tag}}')
      .split('\n')
      .filter((i) => i.startsWith(`berth/t${run}-`))
    if (images.length) docker('rmi', '-f', ...images)
    await api?.stop()
    if (host.work) rmSync(host.work, { recursive: true, force: true })
  })

  return host
}
