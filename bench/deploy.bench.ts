import { execFileSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TEST_IMAGE } from '../test/support/docker.ts'
import { registerAdmin } from '../test/support/flows.ts'
import { freePort } from '../test/support/process.ts'
import {
  fmt,
  printTable,
  runBench,
  startApi,
  startOnlineAgent,
  summarize,
  tempDir,
  verdict,
  waitFor,
} from './support.ts'

// Deploying a Dockerfile app from git: through Berth (POST /deploy until the new version answers
// on the app's port) against the same steps done by hand on the same host in the same run
// (git clone, docker build, docker run, until it answers). Then a signed GitHub push until the
// pushed version answers.

const ROUNDS = Number(process.env.BENCH_DEPLOY_ROUNDS ?? 5)
const TARGET_RATIO = 1.15
const LABEL = 'berth.bench=deploy'
const DOCKERFILE = [
  `FROM ${TEST_IMAGE}`,
  'RUN mkdir -p /srv && echo built > /srv/built',
  'COPY index.html /www/index.html',
  `CMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 3000 -h /www & wait"]`,
].join('\n')

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Bench',
      GIT_AUTHOR_EMAIL: 'bench@example.com',
      GIT_COMMITTER_NAME: 'Bench',
      GIT_COMMITTER_EMAIL: 'bench@example.com',
    },
  }).trim()
}

async function answers(port: number, body: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`)
    return (await res.text()) === body
  } catch {
    return false
  }
}

function cleanUpDocker(): void {
  // The direct path's containers, and the app's that Berth ran (should the run stop before it removes them).
  const ids = [`label=${LABEL}`, 'label=berth.app.name=bench-deploy']
    .flatMap((filter) => run('docker', ['ps', '-aq', '--filter', filter]).split('\n'))
    .filter(Boolean)
  if (ids.length) run('docker', ['rm', '-f', ...ids])
  const images = run('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .filter((i) => i.startsWith('berth/bench-deploy:') || i.startsWith('bench-direct:'))
  if (images.length) run('docker', ['rmi', '-f', ...images])
}

runBench('deploy', async () => {
  cleanUpDocker()
  process.once('exit', cleanUpDocker)
  const work = tempDir('berth-bench-deploy-')
  const bare = join(work, 'app.git')
  const checkout = join(work, 'checkout')
  run('git', ['init', '--bare', '--initial-branch=main', bare])
  run('git', ['clone', bare, checkout])
  run('git', ['checkout', '-b', 'main'], checkout)
  writeFileSync(join(checkout, 'Dockerfile'), DOCKERFILE)
  const commit = (content: string): string => {
    writeFileSync(join(checkout, 'index.html'), content)
    run('git', ['add', '-A'], checkout)
    run('git', ['commit', '-m', content], checkout)
    run('git', ['push', '-f', 'origin', 'main'], checkout)
    return run('git', ['rev-parse', 'HEAD'], checkout)
  }

  const api = await startApi()
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'bench-deploy')
  const created = await api.http.post('/apps', {
    token,
    body: {
      name: 'bench-deploy',
      server_id: server.id,
      port: 3000,
      source: { type: 'git', url: `file://${bare}`, branch: 'main' },
      // Probed often, so the gate opens as soon as the app answers, as the direct loop sees it.
      health_check: { path: '/', interval: 0.1, timeout: 1, start_period: 0 },
    },
  })
  if (created.status !== 201) throw new Error(`POST /apps: ${created.status} ${created.text}`)
  const appId: string = created.body.app.id

  const deployOnce = async (content: string): Promise<number> => {
    commit(content)
    const started = performance.now()
    const res = await api.http.post(`/apps/${appId}/deploy`, { token })
    if (res.status !== 202) throw new Error(`deploy: ${res.status} ${res.text}`)
    const port = await waitFor(
      'the deployment to serve',
      async () => {
        const dep = await api.http.get(`/deployments/${res.body.deployment.id}`, { token })
        if (dep.body.deployment.state === 'failed') throw new Error(`failed: ${dep.body.deployment.reason}`)
        const app = await api.http.get(`/apps/${appId}`, { token })
        const p = app.body.app.host_port as number | null
        return p && (await answers(p, content)) ? p : undefined
      },
      120_000,
      20,
    )
    const ms = performance.now() - started
    if (!port) throw new Error('no port')
    return ms
  }

  const directOnce = async (content: string, i: number): Promise<number> => {
    commit(content)
    const port = await freePort()
    const dir = join(work, `direct-${i}`)
    const started = performance.now()
    run('git', ['clone', '--depth', '1', '--branch', 'main', `file://${bare}`, dir])
    run('docker', ['build', '-q', '-t', `bench-direct:${i}`, dir])
    run('docker', ['run', '-d', '--label', LABEL, '-p', `127.0.0.1:${port}:3000`, `bench-direct:${i}`])
    await waitFor('the direct container to answer', () => answers(port, content), 60_000, 20)
    return performance.now() - started
  }

  // Warm both paths once (the base layers and the agent's first clone), then alternate.
  await deployOnce('warm berth\n')
  await directOnce('warm direct\n', 0)
  const berth: number[] = []
  const direct: number[] = []
  for (let i = 1; i <= ROUNDS; i++) {
    berth.push(await deployOnce(`berth round ${i}\n`))
    direct.push(await directOnce(`direct round ${i}\n`, i))
  }

  // A push: a signed GitHub delivery until the pushed version answers.
  const hook = await api.http.post(`/apps/${appId}/webhooks`, { token, body: { provider: 'github' } })
  const pushes: number[] = []
  for (let i = 0; i < 3; i++) {
    const content = `pushed ${i}\n`
    const sha = commit(content)
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha })
    const signature = `sha256=${createHmac('sha256', hook.body.webhook.secret).update(body).digest('hex')}`
    const started = performance.now()
    const res = await fetch(`${api.url}/api/v1/webhooks/github/${appId}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-GitHub-Event': 'push',
        'X-GitHub-Delivery': `bench-${i}`,
        'X-Hub-Signature-256': signature,
      },
      body,
    })
    if (res.status !== 202) throw new Error(`webhook: ${res.status} ${await res.text()}`)
    const app = await api.http.get(`/apps/${appId}`, { token })
    await waitFor('the pushed version to answer', () => answers(app.body.app.host_port, content), 120_000, 20)
    pushes.push(performance.now() - started)
  }

  const b = summarize(berth)
  const d = summarize(direct)
  const w = summarize(pushes)
  const ratio = b.p50 / d.p50
  const row = (name: string, s: ReturnType<typeof summarize>) => [
    name,
    String(s.n),
    fmt(s.p50, 0),
    fmt(s.max, 0),
  ]
  printTable(
    ['ms', 'n', 'p50', 'max'],
    [
      row('deploy through Berth (POST → new version answers)', b),
      row('git clone + docker build + docker run, direct', d),
      row('GitHub push → new version answers', w),
    ],
  )
  const ok = ratio <= TARGET_RATIO
  printTable(
    ['check', 'measured', 'target', ''],
    [['deploy time vs direct', `${fmt(ratio, 2)}x`, `<= ${TARGET_RATIO}x`, verdict(ok)]],
  )
  console.log(
    `result: deploy ${verdict(ok)} berth=${fmt(b.p50, 0)}ms direct=${fmt(d.p50, 0)}ms ratio=${fmt(ratio, 2)}x webhook_to_live=${fmt(w.p50, 0)}ms`,
  )
})
