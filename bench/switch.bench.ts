import { Agent as HttpAgent } from 'node:http'
import { dockerfile, type Repository, repository } from '../test/support/apps.ts'
import { startCaddy } from '../test/support/caddy.ts'
import { docker, removeContainers } from '../test/support/docker.ts'
import { registerAdmin } from '../test/support/flows.ts'
import type { Client } from '../test/support/http.ts'
import { webRequest } from '../test/support/web.ts'
import {
  fmt,
  onCleanUp,
  printTable,
  runBench,
  startApi,
  startOnlineAgent,
  summarize,
  tempDir,
  verdict,
  waitFor,
} from './support.ts'

// A redeploy's switch: one API, two servers on the same Docker Engine, one whose agent drives a
// Caddy and one whose agent serves the app's host port with its own TCP proxy (no Caddy). Each
// deploys the same git app; then redeploys, alternating between the two, while a client polls the
// app's host port one request at a time. Per redeploy: from the agent's switch (its log line's
// `at`) to the first answer of the new version after which no other is seen, the failed requests,
// and POST deploy until running.

const ROUNDS = Number(process.env.BENCH_SWITCH_ROUNDS ?? 5)
const TARGET_SWITCH_MS = 1_000
const TARGET_RATIO = 1.05
const NAME = 'bench-switch'
const SWITCHED = /sends new (requests|connections) to the new containers/
const STARTED = /^started \d+ container\(s\); waiting for them to be healthy/
const RUNNING = /^running on host port/
// Fresh connections by default, so the poller costs both sides alike (busybox httpd closes each one,
// so the agent's proxy cannot keep them); a browser's kept-alive connections with BENCH_SWITCH_KEEPALIVE=1.
const KEEP_ALIVE = process.env.BENCH_SWITCH_KEEPALIVE === '1'

interface Side {
  label: string
  serverId: string
  appId: string
  repo: Repository
  hostPort: number
}

interface Round {
  deployMs: number
  /** From the start line (new containers started) to the switch line: the health gate and the switch. */
  gateMs: number
  /** From the switch line to the first answer of the new version that stays. */
  switchMs: number
  /** From the switch line to the running line: the drain and the old containers' removal. */
  retireMs: number
  requests: number
  failures: number
  /** Answers of the old version after the new one had answered once. */
  oldAfterNew: number
}

interface Answer {
  /** Date.now() when the answer (or the error) came: the agent stamps its log lines with the same clock. */
  at: number
  body: string | null
  /** Why the request failed, when it did. */
  error?: string
}

/** Polls `port` one request at a time until `stop` is called, keeping every answer. */
function poll(port: number): { stop(): Promise<Answer[]> } {
  const agent = KEEP_ALIVE ? new HttpAgent({ keepAlive: true, maxSockets: 1 }) : undefined
  const answers: Answer[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      try {
        const reply = await webRequest(`http://127.0.0.1:${port}/`, { agent, timeoutMs: 5_000 })
        const failed = reply.status === 200 ? {} : { error: `${reply.status} ${reply.body.slice(0, 100)}` }
        answers.push({ at: Date.now(), body: reply.status === 200 ? reply.body : null, ...failed })
      } catch (err) {
        answers.push({ at: Date.now(), body: null, error: err instanceof Error ? err.message : String(err) })
      }
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      agent?.destroy()
      return answers
    },
  }
}

async function deployUntilRunning(
  http: Client,
  token: string,
  appId: string,
): Promise<{ id: string; ms: number }> {
  const started = performance.now()
  const res = await http.post(`/apps/${appId}/deploy`, { token })
  if (res.status !== 202) throw new Error(`deploy: ${res.status} ${res.text}`)
  const id: string = res.body.deployment.id
  await waitFor(
    `deployment ${id} to run`,
    async () => {
      const dep = (await http.get(`/deployments/${id}`, { token })).body.deployment
      if (['failed', 'cancelled'].includes(dep.state)) throw new Error(`${dep.state}: ${dep.reason}`)
      return dep.state === 'running'
    },
    120_000,
    20,
  )
  return { id, ms: performance.now() - started }
}

/** When the deployment logged a line matching each pattern (the agent's clock, Date.now()). */
async function loggedAt(http: Client, token: string, id: string, patterns: RegExp[]): Promise<number[]> {
  const lines = (await http.get(`/deployments/${id}/logs`, { token })).body.lines as {
    at: number
    text: string
  }[]
  return patterns.map((pattern) => {
    const line = lines.find((l) => pattern.test(l.text))
    if (!line) throw new Error(`deployment ${id} logged no line matching ${pattern}`)
    return line.at
  })
}

async function redeploy(
  http: Client,
  token: string,
  side: Side,
  previous: string,
  version: string,
): Promise<Round> {
  side.repo.commit({ 'index.html': `${version}\n` }, version)
  const poller = poll(side.hostPort)
  let answers: Answer[] = []
  let deployment: { id: string; ms: number }
  try {
    deployment = await deployUntilRunning(http, token, side.appId)
  } finally {
    answers = await poller.stop()
  }
  const isNew = (a: Answer) => a.body === `${version}\n`
  const isOld = (a: Answer) => a.body === `${previous}\n`
  // Anything but the old or the new page is a failed request: an error, a 5xx, Caddy's empty 200.
  const failed = answers.filter((a) => !isNew(a) && !isOld(a))
  const lastOld = answers.findLastIndex(isOld)
  const stays = answers.slice(lastOld + 1).find(isNew)
  if (!stays) throw new Error(`${side.label}: the new version never answered (${answers.length} requests)`)
  const oldAfterNew = answers.slice(answers.findIndex(isNew)).filter(isOld).length
  const [startedAt = 0, switchedAt = 0, runningAt = 0] = await loggedAt(http, token, deployment.id, [
    STARTED,
    SWITCHED,
    RUNNING,
  ])
  for (const a of failed.slice(0, 3)) {
    const when = a.at - switchedAt
    console.log(
      `${side.label}: a failed request ${when} ms after the switch line: ${a.error ?? JSON.stringify(a.body)}`,
    )
  }
  return {
    deployMs: deployment.ms,
    gateMs: switchedAt - startedAt,
    switchMs: stays.at - switchedAt,
    retireMs: runningAt - switchedAt,
    requests: answers.length,
    failures: failed.length,
    oldAfterNew,
  }
}

function removeLeftovers(): void {
  const ids = docker('ps', '-a', '--format', '{{.ID}} {{.Label "berth.app.name"}}')
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([, app]) => app?.startsWith(`${NAME}-`))
    .map(([id]) => id as string)
  removeContainers(ids)
  const images = docker('images', '--format', '{{.Repository}}:{{.Tag}}')
    .split('\n')
    .filter((i) => i.startsWith(`berth/${NAME}-`))
  if (images.length) docker('rmi', '-f', ...images)
}

runBench('switch', async () => {
  console.log(
    `the client polls with ${KEEP_ALIVE ? 'kept-alive connections' : 'a fresh connection per request'}`,
  )
  removeLeftovers()
  process.once('exit', removeLeftovers)
  const work = tempDir('berth-bench-switch-')
  const api = await startApi()
  const token = await registerAdmin(api.http)
  const caddy = await startCaddy({ name: NAME })
  onCleanUp(() => caddy.stop())
  const withCaddy = await startOnlineAgent(api, token, `${NAME}-caddy`, caddy)
  const withProxy = await startOnlineAgent(api, token, `${NAME}-proxy`)
  await waitFor('the server to show its Caddy', async () => {
    const server = (await api.http.get(`/servers/${withCaddy.id}`, { token })).body.server
    return server.proxy?.kind === 'caddy'
  })

  const sides: Side[] = []
  for (const [label, serverId] of [
    ['caddy', withCaddy.id],
    ['proxy', withProxy.id],
  ] as const) {
    const repo = repository(work, label)
    repo.commit({ Dockerfile: dockerfile(), 'index.html': `${label} version 0\n` }, 'first version')
    const created = await api.http.post('/apps', {
      token,
      body: {
        name: `${NAME}-${label}`,
        server_id: serverId,
        port: 3000,
        source: { type: 'git', url: repo.url, branch: 'main' },
        // Probed often, so the gate opens as soon as the app answers.
        health_check: { path: '/', interval: 0.1, timeout: 1, start_period: 0 },
      },
    })
    if (created.status !== 201) throw new Error(`POST /apps: ${created.status} ${created.text}`)
    const appId: string = created.body.app.id
    // The first deploy warms the side (the base layers, its first clone) and gives the app its port.
    await deployUntilRunning(api.http, token, appId)
    const hostPort: number = (await api.http.get(`/apps/${appId}`, { token })).body.app.host_port
    sides.push({ label, serverId, appId, repo, hostPort })
  }

  const rounds = new Map<string, Round[]>(sides.map((s) => [s.label, []]))
  const perRound: string[][] = []
  for (let i = 1; i <= ROUNDS; i++) {
    // Alternate which side goes first, so load that comes and goes lands on both.
    for (const side of i % 2 === 1 ? sides : [...sides].reverse()) {
      const r = await redeploy(
        api.http,
        token,
        side,
        `${side.label} version ${i - 1}`,
        `${side.label} version ${i}`,
      )
      rounds.get(side.label)?.push(r)
      perRound.push([
        `${i} ${side.label}`,
        fmt(r.deployMs, 0),
        fmt(r.gateMs, 0),
        fmt(r.switchMs, 0),
        fmt(r.retireMs, 0),
        String(r.requests),
        String(r.failures),
        String(r.oldAfterNew),
      ])
    }
  }
  printTable(
    [
      'round',
      'deploy ms',
      'started→switch ms',
      'switch→new ms',
      'switch→running ms',
      'requests',
      'failed',
      'old after new',
    ],
    perRound,
  )

  // Deleting the apps takes their containers and Caddy's routes; removeLeftovers is for a run that stops early.
  for (const side of sides) await api.http.delete(`/apps/${side.appId}`, { token })

  const of = (label: string) => rounds.get(label) ?? []
  const sum = (rs: Round[], f: (r: Round) => number) => rs.reduce((n, r) => n + f(r), 0)
  const summary = sides.map((s) => {
    const rs = of(s.label)
    return {
      label: s.label,
      deploy: summarize(rs.map((r) => r.deployMs)),
      switch: summarize(rs.map((r) => r.switchMs)),
      // The part of a deploy the front changes: from the new containers' start to running.
      rollout: summarize(rs.map((r) => r.gateMs + r.retireMs)),
      failures: sum(rs, (r) => r.failures),
      oldAfterNew: sum(rs, (r) => r.oldAfterNew),
    }
  })
  const [c, p] = summary as [(typeof summary)[0], (typeof summary)[0]]
  console.log('')
  printTable(
    [
      'per side',
      'deploy p50 ms',
      'deploy max ms',
      'switch p50 ms',
      'switch max ms',
      'started→running p50 ms',
      'failed',
      'old after new',
    ],
    summary.map((s) => [
      s.label === 'caddy' ? 'through Caddy' : "through the agent's proxy",
      fmt(s.deploy.p50, 0),
      fmt(s.deploy.max, 0),
      fmt(s.switch.p50, 0),
      fmt(s.switch.max, 0),
      fmt(s.rollout.p50, 0),
      String(s.failures),
      String(s.oldAfterNew),
    ]),
  )
  const ratio = c.deploy.p50 / p.deploy.p50
  const switchOk = c.switch.max <= TARGET_SWITCH_MS
  const failuresOk = c.failures === 0 && p.failures === 0
  const ratioOk = ratio <= TARGET_RATIO
  console.log('')
  printTable(
    ['check', 'measured', 'target', ''],
    [
      [
        'switch through Caddy, max',
        `${fmt(c.switch.max, 0)} ms`,
        `≤ ${TARGET_SWITCH_MS} ms`,
        verdict(switchOk),
      ],
      ['failed requests (both sides)', String(c.failures + p.failures), '0', verdict(failuresOk)],
      [
        "deploy through Caddy / through the agent's proxy",
        `${fmt(ratio)}×`,
        `≤ ${TARGET_RATIO}×`,
        verdict(ratioOk),
      ],
      ['started→running through Caddy / the proxy', `${fmt(c.rollout.p50 / p.rollout.p50)}×`, '', ''],
    ],
  )
  console.log(
    `result: switch ${verdict(switchOk && failuresOk && ratioOk)} switch_caddy_max=${fmt(c.switch.max, 0)}ms switch_proxy_max=${fmt(p.switch.max, 0)}ms failed=${c.failures + p.failures} deploy_caddy=${fmt(c.deploy.p50, 0)}ms deploy_proxy=${fmt(p.deploy.p50, 0)}ms ratio=${fmt(ratio)}x`,
  )
})
