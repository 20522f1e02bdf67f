import { useEffect } from 'preact/hooks'
import { api, call } from '../api.ts'
import { subscribe } from '../live.ts'
import { useLoad } from '../load.ts'
import { LineChart } from './chart.tsx'
import { ErrorNote } from './error.tsx'
import { bytes, percent } from './format.ts'

// A container's CPU, memory and network: the stored history first, then each new sample from
// the container's stats channel on the page's live socket.

type Sample = {
  at: string
  cpu: { percent: number }
  memory: { used: number; limit: number }
  network: { rx: number; tx: number }
}

/** Samples drawn: the last ten minutes at the default interval of 10 s. */
const WINDOW = 60

export function ContainerStats({ serverId, containerId }: { serverId: string; containerId: string }) {
  const history = useLoad(async () => {
    const body = await call(
      api().servers[':sid'].containers[':cid'].stats.history.$get({
        param: { sid: serverId, cid: containerId },
        query: {},
      }),
    )
    return (body.samples as Sample[]).slice(-WINDOW)
  }, [serverId, containerId])
  useEffect(
    () =>
      subscribe(`container:${serverId}:${containerId}:stats`, (event, data) => {
        if (event !== 'stats') return
        const sample = data as Sample
        history.set((list) =>
          list?.some((s) => s.at === sample.at) ? list : [...(list ?? []), sample].slice(-WINDOW),
        )
      }),
    [serverId, containerId],
  )
  const samples = history.data ?? []
  const limit = samples[samples.length - 1]?.memory.limit ?? 0
  return (
    <section aria-labelledby="stats-heading">
      <h2 id="stats-heading">Stats</h2>
      <ErrorNote error={history.error} />
      <div class="grid charts">
        <LineChart
          title="CPU"
          max={100}
          format={percent}
          series={[{ name: 'used', tone: 'a', values: samples.map((s) => s.cpu.percent) }]}
        />
        <LineChart
          title={`Memory${limit ? ` (limit ${bytes(limit)})` : ''}`}
          max={0}
          format={bytes}
          series={[{ name: 'used', tone: 'a', values: samples.map((s) => s.memory.used) }]}
        />
        <LineChart
          title="Network"
          max={0}
          format={(n) => `${bytes(n)}/s`}
          series={[
            { name: 'received', tone: 'a', values: rates(samples, (s) => s.network.rx) },
            { name: 'sent', tone: 'b', values: rates(samples, (s) => s.network.tx) },
          ]}
        />
      </div>
    </section>
  )
}

/** Bytes a second between samples of a counter; one that went down (a restart) starts again from 0. */
function rates(samples: Sample[], counter: (s: Sample) => number): number[] {
  const out: number[] = []
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as Sample
    const b = samples[i] as Sample
    const seconds = Math.max(0.1, (Date.parse(b.at) - Date.parse(a.at)) / 1000)
    const delta = counter(b) >= counter(a) ? counter(b) - counter(a) : counter(b)
    out.push(delta / seconds)
  }
  return out
}
