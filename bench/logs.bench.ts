import { statSync } from 'node:fs'
import Docker from 'dockerode'
import { docker, removeContainers, TEST_IMAGE } from '../test/support/docker.ts'
import { registerAdmin } from '../test/support/flows.ts'
import {
  fmt,
  printChecks,
  printTable,
  rssKb,
  runBench,
  sleep,
  startApi,
  startOnlineAgent,
  verdict,
  waitFor,
} from './support.ts'

// Log throughput: a container's 200 MB of output read through the relay (SSE from the API, over
// the agent's link) against the same log read directly from Docker (dockerode), same run. Then a
// client that reads the relay at 1 MB/s: the API's and the agent's memory must not grow with
// what it has not read yet (flow control).

const MB = 1024 * 1024
const LOG_MB = Number(process.env.BENCH_LOG_MB ?? 200)
const SLOW_SECONDS = Number(process.env.BENCH_SLOW_S ?? 20)
const LINE = `${'0123456789'.repeat(9)}abcdefghi`
const NAME = 'bench-logs-firehose'

const removeContainer = () => removeContainers([NAME])

/** Reads an SSE log follow; counts the log's own bytes (each line and its newline). */
async function readRelay(url: string, token: string, pace?: { bytesPerSecond: number; seconds: number }) {
  const controller = new AbortController()
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal })
  if (res.status !== 200 || !res.body) throw new Error(`logs: ${res.status}`)
  const decoder = new TextDecoder()
  let buffered = ''
  let payload = 0
  let wire = 0
  const started = performance.now()
  try {
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      wire += piece.length
      buffered += decoder.decode(piece, { stream: true })
      let cut = buffered.indexOf('\n\n')
      while (cut >= 0) {
        const block = buffered.slice(0, cut)
        buffered = buffered.slice(cut + 2)
        const data = block.split('\n').find((l) => l.startsWith('data: '))
        if (block.includes('event: stdout') && data)
          payload += (JSON.parse(data.slice(6)).line as string).length + 1
        cut = buffered.indexOf('\n\n')
      }
      if (pace) {
        const elapsed = (performance.now() - started) / 1000
        if (elapsed >= pace.seconds) break
        const ahead = wire / pace.bytesPerSecond - elapsed
        if (ahead > 0) await sleep(ahead * 1000)
      }
    }
  } finally {
    controller.abort()
  }
  return { payload, wire, seconds: (performance.now() - started) / 1000 }
}

runBench('logs', async () => {
  removeContainer()
  process.once('exit', removeContainer)
  // The whole log is written before anything is read, so both readers read the same finished log.
  docker(
    'run',
    '-d',
    '--name',
    NAME,
    '--log-opt',
    `max-size=${LOG_MB * 3}m`,
    TEST_IMAGE,
    'sh',
    '-c',
    `yes ${LINE} | head -c ${LOG_MB * MB}`,
  )
  await waitFor(
    'the container to finish writing',
    () => docker('inspect', '-f', '{{.State.Running}}', NAME) === 'false',
    300_000,
    500,
  )
  const logPath = docker('inspect', '-f', '{{.LogPath}}', NAME)
  console.log(
    `log written: ${LOG_MB} MB of output, ${fmt(statSync(logPath).size / MB, 0)} MB on disk as Docker stores it`,
  )

  // Direct: dockerode, demultiplexed, counting the output's bytes.
  const direct = new Docker()
  const directStarted = performance.now()
  const raw = (await direct
    .getContainer(NAME)
    .logs({ stdout: true, stderr: true, follow: true })) as unknown as NodeJS.ReadableStream
  let directBytes = 0
  await new Promise<void>((resolve, reject) => {
    const sink = {
      write: (b: Buffer) => {
        directBytes += b.length
        return true
      },
      end: () => {},
    }
    direct.modem.demuxStream(raw, sink as never, sink as never)
    raw.on('end', resolve)
    raw.on('error', reject)
  })
  const directSeconds = (performance.now() - directStarted) / 1000

  const api = await startApi()
  const token = await registerAdmin(api.http)
  const server = await startOnlineAgent(api, token, 'bench-logs')
  const id = docker('inspect', '-f', '{{.Id}}', NAME)
  await waitFor(
    'the container in the API',
    async () => (await api.http.get(`/servers/${server.id}/containers/${id}`, { token })).status === 200,
    30_000,
  )
  const url = `${api.url}/api/v1/servers/${server.id}/containers/${id}/logs?follow=true&tail=all`
  const relay = await readRelay(url, token)

  // A slow reader: 1 MB/s of the SSE stream for a while, memory watched on both sides.
  const agentPid = server.agent.proc.pid ?? 0
  const before = { api: rssKb(api.pid()), agent: rssKb(agentPid) }
  const peak = { ...before }
  let watching = true
  const watcher = (async () => {
    while (watching) {
      peak.api = Math.max(peak.api, rssKb(api.pid()))
      peak.agent = Math.max(peak.agent, rssKb(agentPid))
      await sleep(250)
    }
  })()
  const slow = await readRelay(url, token, { bytesPerSecond: MB, seconds: SLOW_SECONDS })
  watching = false
  await watcher

  const directRate = directBytes / MB / directSeconds
  const relayRate = relay.payload / MB / relay.seconds
  const ratio = relayRate / directRate
  const apiGrowth = (peak.api - before.api) / 1024
  const agentGrowth = (peak.agent - before.agent) / 1024
  printTable(
    ['read', 'MB', 's', 'MB/s'],
    [
      [
        'direct (dockerode logs, demultiplexed)',
        fmt(directBytes / MB, 0),
        fmt(directSeconds, 2),
        fmt(directRate, 1),
      ],
      ['through the relay (SSE)', fmt(relay.payload / MB, 0), fmt(relay.seconds, 2), fmt(relayRate, 1)],
      [
        'a client reading 1 MB/s',
        fmt(slow.payload / MB, 1),
        fmt(slow.seconds, 1),
        fmt(slow.payload / MB / slow.seconds, 2),
      ],
    ],
  )
  const checks: [string, string, string, boolean][] = [
    ['relay / direct throughput', `${fmt(ratio, 2)}x`, '>= 0.5x', ratio >= 0.5],
    ['API RSS growth, slow reader', `${fmt(apiGrowth, 1)} MB`, '< 50 MB', apiGrowth < 50],
    ['agent RSS growth, slow reader', `${fmt(agentGrowth, 1)} MB`, '< 50 MB', agentGrowth < 50],
  ]
  const pass = printChecks(checks)
  console.log(
    `result: logs ${verdict(pass)} direct=${fmt(directRate, 1)}MB/s relay=${fmt(relayRate, 1)}MB/s ratio=${fmt(ratio, 2)}x api_growth=${fmt(apiGrowth, 1)}MB agent_growth=${fmt(agentGrowth, 1)}MB`,
  )
  removeContainer()
})
