import { useEffect } from 'preact/hooks'
import { api, call } from '../api.ts'
import { subscribe } from '../live.ts'
import { useLoad } from '../load.ts'
import { Link } from '../router.tsx'
import { ErrorNote } from '../ui/error.tsx'
import { ago } from '../ui/format.ts'

type Server = Awaited<ReturnType<typeof listServers>>[number]

const listServers = async () => (await call(api().servers.$get({ query: {} }))).servers

/** Every server with its status as it changes. */
export default function Servers() {
  const servers = useLoad(listServers, [])
  const ids = (servers.data ?? []).map((s) => s.id).join(',')
  useEffect(() => {
    const stops = (servers.data ?? []).map((server) =>
      subscribe(`server:${server.id}`, (event, data) => {
        if (event !== 'online' && event !== 'offline' && event !== 'pending') return
        const { status, last_seen_at } = data as Pick<Server, 'status' | 'last_seen_at'>
        servers.set((list) => list?.map((s) => (s.id === server.id ? { ...s, status, last_seen_at } : s)))
      }),
    )
    return () => {
      for (const stop of stops) stop()
    }
  }, [ids])
  return (
    <>
      <h1>Servers</h1>
      <ErrorNote error={servers.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">Last seen</th>
            <th scope="col">Arch</th>
            <th scope="col">Agent</th>
          </tr>
        </thead>
        <tbody>
          {(servers.data ?? []).map((server) => (
            <tr key={server.id}>
              <td>
                <Link href={`/servers/${server.id}`}>{server.name}</Link>
              </td>
              <td>
                <span class={`status ${server.status}`}>{server.status}</span>
              </td>
              <td>{ago(server.last_seen_at)}</td>
              <td>{server.agent?.arch ?? '–'}</td>
              <td>{server.agent?.version ?? '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}
