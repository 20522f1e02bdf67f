import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import { dirname, join } from 'node:path'
import {
  APP_LABELS,
  type DeployArgs,
  deployJobData,
  type OpName,
  type OpResult,
  ops,
  type ToApiBody,
} from '@berth/shared'
import type { DeployStatus, JobFrame } from '../deploy/job.ts'
import { connectDocker } from '../docker/index.ts'
import { type AgentRuntime, newRuntime, runOp } from '../ops/index.ts'
import { portRange } from './ops.ts'
import { dockerCli, randomName } from './test-docker.ts'

// Fixtures for the deploy tests: real git repositories, real Docker, an AppHost as the agent runs it.

export const docker = connectDocker()

/** A Dockerfile app on the test image: busybox httpd on port 3000 serving `page`, stopping at once on TERM. */
export function httpApp(page: string, extra: string[] = []): Record<string, string> {
  return {
    Dockerfile: [
      'FROM berth-test/busybox:latest',
      'COPY index.html /www/index.html',
      ...extra,
      `CMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 3000 -h /www & wait"]`,
    ].join('\n'),
    'index.html': `${page}\n`,
  }
}

/** A health check that notices quickly. */
export const QUICK_CHECK = {
  path: '/',
  interval: 0.2,
  timeout: 1,
  healthy_threshold: 1,
  unhealthy_threshold: 2,
  start_period: 0,
}

/** A bare git repository in a temp folder, reachable over file://, with commits made by `commit`. */
export class GitRepo {
  private constructor(
    readonly folder: string,
    readonly url: string,
    private readonly work: string,
  ) {}

  static async create(): Promise<GitRepo> {
    const folder = await mkdtemp(join(os.tmpdir(), 'berth-git-'))
    const bare = join(folder, 'app.git')
    const work = join(folder, 'work')
    git(folder, 'init', '--quiet', '--bare', '--initial-branch=main', bare)
    git(folder, 'init', '--quiet', '--initial-branch=main', work)
    return new GitRepo(folder, `file://${bare}`, work)
  }

  /** Commits `files` (replacing those of the same name) on `branch` and pushes; returns the sha. */
  async commit(files: Record<string, string>, message = 'a change', branch = 'main'): Promise<string> {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(dirname(join(this.work, name)), { recursive: true })
      await writeFile(join(this.work, name), text)
    }
    git(this.work, 'add', '-A')
    git(
      this.work,
      '-c',
      'user.name=Test',
      '-c',
      'user.email=test@example.com',
      'commit',
      '--quiet',
      '-m',
      message,
    )
    git(this.work, 'push', '--quiet', this.url.slice('file://'.length), `HEAD:${branch}`)
    return git(this.work, 'rev-parse', 'HEAD')
  }

  async remove(): Promise<void> {
    await rm(this.folder, { recursive: true, force: true })
  }
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

/** An agent runtime with apps, whose frames are kept, and one test app's ids and cleanup. */
export class AppBench {
  readonly appId = randomName('app_test').replace(/-/g, '_')
  readonly appName = randomName('t')
  /** A server of its own, so that agents of other test files leave this bench's apps alone. */
  readonly serverId = randomName('srv_test')
  readonly frames: (JobFrame | Extract<ToApiBody, { type: 'event' }>)[] = []
  readonly log: string[] = []
  readonly runtime: AgentRuntime
  private deploys = 0
  private readonly volumes = new Set<string>()

  constructor(readonly workDir: string) {
    this.runtime = this.newRuntime()
  }

  static async create(): Promise<AppBench> {
    return new AppBench(await mkdtemp(join(os.tmpdir(), 'berth-work-')))
  }

  /** Another runtime on the same work folder: the agent after a restart. */
  newRuntime(): AgentRuntime {
    return newRuntime({
      workDir: this.workDir,
      apps: {
        docker,
        serverId: () => this.serverId,
        log: (line) => this.log.push(line),
        send: (frame) => this.frames.push(frame),
        monitor: { tickMs: 100, reportMs: 300 },
      },
    })
  }

  get apps() {
    const apps = this.runtime.apps
    if (!apps) throw new Error('no apps')
    return apps
  }

  async call<O extends OpName>(op: O, args: unknown, runtime = this.runtime): Promise<OpResult<O>> {
    const data = await runOp(op, args, { docker, signal: AbortSignal.timeout(60_000), agent: runtime })
    return ops[op].result.parse(data) as OpResult<O>
  }

  volume(): string {
    const name = randomName('berth-test-vol')
    this.volumes.add(name)
    return name
  }

  /** Deploy arguments for this app; a new deployment id each time. */
  args(
    source: DeployArgs['source'],
    overrides: Partial<Omit<DeployArgs, 'run'>> & { run?: Partial<DeployArgs['run']> } = {},
  ): DeployArgs {
    const deploymentId = `dep_${randomName('x').slice(2)}${++this.deploys}`
    const { run, ...rest } = overrides
    return {
      deployment_id: deploymentId,
      app_id: this.appId,
      app_name: this.appName,
      source,
      image_tag: `berth-test-app/${this.appName}:${deploymentId}`,
      build: {},
      run: {
        port: 3000,
        env: {},
        volumes: [],
        resources: {},
        instances: 1,
        health_check: QUICK_CHECK,
        host_port: null,
        port_range: portRange(8),
        ports: [],
        ...run,
      },
      deadlines: { clone_ms: 30_000, build_ms: 60_000 },
      mask: [],
      ...rest,
    }
  }

  async status(id: string): Promise<DeployStatus | undefined> {
    return (await this.call('deploy.status', { deployment_ids: [id] })).jobs[0]
  }

  /** Starts a deploy and waits for its final state. */
  async deploy(args: DeployArgs, timeoutMs = 40_000): Promise<DeployStatus> {
    await this.call('deploy.start', args)
    return this.settled(args.deployment_id, timeoutMs)
  }

  async settled(id: string, timeoutMs = 40_000): Promise<DeployStatus> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const status = await this.status(id)
      if (status && ['running', 'failed', 'cancelled'].includes(status.state)) return status
      if (Date.now() > until)
        throw new Error(`the deploy ${id} is still ${status?.state} after ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** The job frames of one deployment, their data checked against the protocol. */
  jobFrames(id: string): JobFrame[] {
    return this.frames
      .filter((f): f is JobFrame => f.type === 'job' && f.jobId === id)
      .map((f) => {
        deployJobData.parse(f.data)
        return f
      })
  }

  /** Docker ids of this app's containers, in any state. */
  containers(): string[] {
    const ids = dockerCli('ps', '-aq', '--no-trunc', '--filter', `label=${APP_LABELS.app}=${this.appId}`)
    return ids ? ids.split('\n') : []
  }

  /** Tags of this app's images. */
  images(): string[] {
    const tags = dockerCli('images', '--format', '{{.Repository}}:{{.Tag}}', `berth-test-app/${this.appName}`)
    return tags ? tags.split('\n') : []
  }

  async cleanUp(): Promise<void> {
    await this.apps.stop()
    const ids = this.containers()
    if (ids.length > 0) dockerCli('rm', '-f', ...ids)
    for (const tag of this.images()) quietly(() => dockerCli('rmi', '-f', tag))
    for (const name of this.volumes) quietly(() => dockerCli('volume', 'rm', '-f', name))
    await rm(this.workDir, { recursive: true, force: true })
  }
}

/** GET http://127.0.0.1:port/path, a new connection each time; the status and body. */
export function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (piece) => {
        body += piece
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', reject)
  })
}

function quietly(work: () => unknown): void {
  try {
    work()
  } catch {
    // already gone
  }
}
