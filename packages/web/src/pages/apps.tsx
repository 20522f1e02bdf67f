import { useEffect } from 'preact/hooks'
import { api, call } from '../api.ts'
import { subscribe } from '../live.ts'
import { useLoad } from '../load.ts'
import { Link } from '../router.tsx'
import { canWrite } from '../session.ts'
import { ErrorNote } from '../ui/error.tsx'
import { ago } from '../ui/format.ts'
import { Table } from '../ui/table.tsx'
import { inProgress } from './app/types.ts'

/** Every app with its server, its latest deployment and that deployment's state as it moves. */
async function listApps() {
  const [apps, servers] = await Promise.all([
    call(api().apps.$get({ query: { limit: '200' } })),
    call(api().servers.$get({ query: {} })),
  ])
  const serverNames = new Map(servers.servers.map((s) => [s.id, s.name]))
  return Promise.all(
    apps.apps.map(async (app) => {
      const latest = inProgress(app.status)
        ? (await call(api().apps[':id'].deployments.$get({ param: { id: app.id }, query: { limit: '1' } })))
            .deployments[0]
        : undefined
      return { ...app, serverName: serverNames.get(app.server_id) ?? app.server_id, latestId: latest?.id }
    }),
  )
}

export default function Apps() {
  const apps = useLoad(listApps, [])
  const moving = (apps.data ?? []).filter((a) => a.latestId)
  const key = moving.map((a) => a.latestId).join(',')
  useEffect(() => {
    const stops = moving.map((app) =>
      subscribe(`deployment:${app.latestId}`, (event, data) => {
        if (event !== 'state') return
        const { state } = data as { state: string }
        apps.set((list) => list?.map((a) => (a.id === app.id ? { ...a, status: state } : a)))
        // A deployment that reached running is the app's current one now.
        if (!inProgress(state)) void apps.reload()
      }),
    )
    return () => {
      for (const stop of stops) stop()
    }
  }, [key])
  return (
    <>
      <h1>Apps</h1>
      {canWrite() && (
        <p class="actions">
          <Link href="/apps/new" class="button primary">
            Create an app
          </Link>
        </p>
      )}
      <ErrorNote error={apps.error} />
      {apps.data && (
        <Table columns={['Name', 'Server', 'Status', 'Current deployment', 'Updated']} empty="No apps yet.">
          {apps.data.map((app) => (
            <tr key={app.id}>
              <td>
                <Link href={`/apps/${app.id}`}>{app.name}</Link>
              </td>
              <td>{app.serverName}</td>
              <td>
                <span class={`status ${app.status ?? 'none'}`}>{app.status ?? 'not deployed'}</span>
              </td>
              <td class="mono">{app.current_deployment_id ?? '–'}</td>
              <td>{ago(app.updated_at)}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  )
}
