import { TEST_IMAGE } from '../test/support/docker.ts'
import { registerAdmin } from '../test/support/flows.ts'
import { createServer, fmt, percentile, printTable, runBench, startApi, verdict, waitFor } from './support.ts'

// Idle follows: N SSE follows of a deployment that stays queued (its server has no agent), and
// the API's /health latency with them open against the same API with none, same run. A follow
// that polls the database per reader makes the API's CPU, and so /health, grow with N.

const FOLLOWS = Number(process.env.BENCH_FOLLOWS ?? 500)
const SAMPLES = 50

async function healthMs(url: string): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now()
    const res = await fetch(`${url}/api/v1/health`)
    await res.arrayBuffer()
    times.push(performance.now() - started)
  }
  return times
}

runBench('follows', async () => {
  // Enough streams per user for the bench's one admin to hold them all.
  const api = await startApi({ BERTH_MAX_STREAMS_PER_USER: String(FOLLOWS + 10) })
  const admin = await registerAdmin(api.http)
  const server = await createServer(api.http, admin, 'bench-idle')
  const app = await api.http.post<{ app: { id: string } }>('/apps', {
    token: admin,
    body: { name: 'bench-waiting', server_id: server.id, source: { type: 'image', image: TEST_IMAGE } },
  })
  if (app.status !== 201) throw new Error(`POST /apps: ${app.status} ${app.text}`)
  const dep = await api.http.post<{ deployment: { id: string } }>(`/apps/${app.body.app.id}/deploy`, {
    token: admin,
  })
  if (dep.status !== 202) throw new Error(`deploy: ${dep.status} ${dep.text}`)

  await healthMs(api.url)
  const baseline = percentile(await healthMs(api.url), 50)

  const controller = new AbortController()
  let open = 0
  await Promise.all(
    Array.from({ length: FOLLOWS }, async () => {
      const res = await fetch(`${api.url}/api/v1/deployments/${dep.body.deployment.id}/logs?follow=true`, {
        headers: { Authorization: `Bearer ${admin}` },
        signal: controller.signal,
      })
      if (res.status !== 200 || !res.body) throw new Error(`follow: ${res.status}`)
      open++
      void (async () => {
        try {
          for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>) {
            // an idle follow: its state event, then nothing
          }
        } catch {
          // aborted at the end
        }
      })()
    }),
  )
  await waitFor('every follow open', () => open === FOLLOWS)
  const loaded = percentile(await healthMs(api.url), 50)
  controller.abort()

  const ratio = loaded / baseline
  printTable(
    ['/health', 'median ms'],
    [
      ['no follows', fmt(baseline, 2)],
      [`${FOLLOWS} idle follows of a queued deployment`, fmt(loaded, 2)],
    ],
  )
  const pass = ratio < 3
  printTable(
    ['check', 'measured', 'target', ''],
    [['/health with follows / without', `${fmt(ratio, 2)}x`, '< 3x', verdict(pass)]],
  )
  console.log(
    `result: follows ${verdict(pass)} follows=${FOLLOWS} health_ms=${fmt(baseline, 2)} loaded_ms=${fmt(loaded, 2)} ratio=${fmt(ratio, 2)}x`,
  )
})
