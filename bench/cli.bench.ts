import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CLI_BUNDLE } from '../test/support/cli.ts'
import { docker, removeContainers, TEST_IMAGE } from '../test/support/docker.ts'
import { registerAdmin } from '../test/support/flows.ts'
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
} from './support.ts'

// The CLI's own cost: `berth containers ls --json` and `berth deploy --image … --wait` as spawned
// processes, against the same requests made by spawned curl processes, interleaved in one run.

const LS_ROUNDS = Number(process.env.BENCH_CLI_LS ?? 20)
const DEPLOY_ROUNDS = Number(process.env.BENCH_CLI_DEPLOYS ?? 5)
const TARGET_ADDED_MS = 150
const run = promisify(execFile)

async function timed(file: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const started = performance.now()
  await run(file, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })
  return performance.now() - started
}

runBench('cli', async () => {
  const api = await startApi()
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'bench-cli')
  const env = { BERTH_URL: api.url, BERTH_TOKEN: token, NO_COLOR: '1' }
  const auth = `Authorization: Bearer ${token}`
  const base = `${api.url}/api/v1`

  // What starting node alone costs here: the floor under any command of a Node CLI.
  const floor: number[] = []
  const ls = { cli: [] as number[], curl: [] as number[] }
  for (let i = 0; i < LS_ROUNDS; i++) {
    floor.push(await timed(process.execPath, ['-e', '0']))
    ls.cli.push(await timed(process.execPath, [CLI_BUNDLE, 'containers', 'ls', server.id, '--json'], env))
    ls.curl.push(await timed('curl', ['-sf', '-H', auth, `${base}/servers/${server.id}/containers`]))
  }

  // An image app whose image is built here: each round deploys it again, without a pull.
  const image = `berth-bench/cli-web:${Date.now()}`
  const context = tempDir('berth-bench-cli-')
  writeFileSync(
    join(context, 'Dockerfile'),
    `FROM ${TEST_IMAGE}\nCMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 3000 -h /www & wait"]\n`,
  )
  docker('build', '-q', '-t', image, context)
  const created = await api.http.post('/apps', {
    token,
    body: { name: 'bench-cli-web', server_id: server.id, port: 3000, source: { type: 'image', image } },
  })
  if (created.status !== 201) throw new Error(`POST /apps: ${created.status} ${created.text}`)
  const appId: string = created.body.app.id
  // The app's containers go with it while the agent runs; what a failed run left, by its label.
  onCleanUp(async () => {
    removeContainers(
      docker('ps', '-aq', '--filter', 'label=berth.app.name=bench-cli-web').split('\n').filter(Boolean),
    )
    docker('rmi', '-f', image)
  })
  const deploy = { cli: [] as number[], curl: [] as number[] }
  for (let i = 0; i < DEPLOY_ROUNDS; i++) {
    deploy.cli.push(
      await timed(process.execPath, [CLI_BUNDLE, 'deploy', appId, '--image', image, '--wait', '--json'], env),
    )
    // The same by hand: queue the deploy, then follow its log until the stream ends with it.
    const started = performance.now()
    const { stdout } = await run('curl', [
      '-sf',
      '-X',
      'POST',
      '-H',
      auth,
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({ image }),
      `${base}/apps/${appId}/deploy`,
    ])
    const id = JSON.parse(stdout).deployment.id as string
    await run('curl', ['-sfN', '-H', auth, `${base}/deployments/${id}/logs?follow=true`])
    deploy.curl.push(performance.now() - started)
  }

  await api.http.delete(`/apps/${appId}`, { token })

  const rows = [
    ['containers ls --json', ls],
    ['deploy --image --wait', deploy],
  ] as const
  const results = rows.map(([name, { cli, curl }]) => {
    const c = summarize(cli)
    const b = summarize(curl)
    return { name, cli: c.p50, curl: b.p50, added: c.p50 - b.p50, ratio: c.p50 / b.p50 }
  })
  const nodeStart = summarize(floor).p50
  printTable(
    ['command', 'berth p50 ms', 'curl p50 ms', 'added ms', 'ratio', 'added beyond node -e 0 ms'],
    results.map((r) => [
      r.name,
      fmt(r.cli, 1),
      fmt(r.curl, 1),
      fmt(r.added, 1),
      `${fmt(r.ratio, 2)}×`,
      fmt(r.added - nodeStart, 1),
    ]),
  )
  console.log(`node -e 0 p50: ${fmt(nodeStart, 1)} ms`)
  const ok = results.every((r) => r.added <= TARGET_ADDED_MS)
  console.log(
    `result: cli ${verdict(ok)} (added ${results.map((r) => `${r.name} ${fmt(r.added, 1)} ms`).join(', ')}; target ≤ ${TARGET_ADDED_MS} ms)`,
  )
})
