import { api, call } from '../../api.ts'
import { useLoad } from '../../load.ts'
import { LineChart } from '../../ui/chart.tsx'
import { ErrorNote } from '../../ui/error.tsx'
import { bytes, dateTime, percent } from '../../ui/format.ts'

/** The app's health probes and the restarts they caused, newest first. */
export function HealthLog({ appId }: { appId: string }) {
  const health = useLoad(
    async () =>
      (await call(api().apps[':id'].health.$get({ param: { id: appId }, query: { limit: '20' } }))).health,
    [appId],
  )
  const h = health.data
  return (
    <section class="panel" aria-labelledby="health">
      <h2 id="health">Health</h2>
      <ErrorNote error={health.error} />
      {h && (
        <>
          <p>
            Status: <span class={`status ${h.status}`}>{h.status}</span>{' '}
            <button type="button" class="link" onClick={health.reload}>
              Refresh
            </button>
          </p>
          {h.results.length === 0 && <p class="muted">No probes yet.</p>}
          <ul class="plain">
            {h.restarts.map((r) => (
              <li key={`${r.container}-${r.at}`} class="error">
                {dateTime(r.at)}: restarted {r.container.slice(0, 12)} ({r.reason})
              </li>
            ))}
            {h.results.map((r) => (
              <li key={`${r.container}-${r.at}`}>
                <span class={`status ${r.ok ? 'running' : 'failed'}`}>{r.ok ? 'ok' : 'failed'}</span>{' '}
                {dateTime(r.at)}, {r.ms} ms{r.error ? `: ${r.error}` : ''}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  )
}

/** CPU, memory and network of each of the app's running containers over the kept history. */
export function AppStats({ appId }: { appId: string }) {
  const stats = useLoad(
    async () => (await call(api().apps[':id'].stats.$get({ param: { id: appId }, query: {} }))).stats,
    [appId],
  )
  return (
    <section class="panel" aria-labelledby="stats">
      <h2 id="stats">Stats</h2>
      <ErrorNote error={stats.error} />
      {stats.data?.length === 0 && <p class="muted">No running containers.</p>}
      {(stats.data ?? []).map((series) => {
        const s = series.samples
        return (
          <div key={series.container_id}>
            <h3 class="mono">{series.docker_id.slice(0, 12)}</h3>
            <div class="grid">
              <LineChart
                title="CPU"
                max={100}
                format={percent}
                series={[{ name: 'used', tone: 'a', values: s.map((p) => p.cpu.percent) }]}
              />
              <LineChart
                title="Memory"
                max={s.at(-1)?.memory.limit ?? 0}
                format={bytes}
                series={[{ name: 'used', tone: 'a', values: s.map((p) => p.memory.used) }]}
              />
              <LineChart
                title="Network in per sample"
                max={0}
                format={bytes}
                series={[{ name: 'received', tone: 'a', values: s.map((p) => p.network.rx_delta) }]}
              />
            </div>
          </div>
        )
      })}
      <button type="button" class="link" onClick={stats.reload}>
        Refresh stats
      </button>
    </section>
  )
}
