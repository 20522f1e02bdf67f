import { useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { useLoad } from '../load.ts'
import { Link } from '../router.tsx'
import { isAdmin } from '../session.ts'
import { AddServer } from '../ui/add-server.tsx'
import { ConfirmButton } from '../ui/confirm.tsx'
import { ErrorNote } from '../ui/error.tsx'
import { ago } from '../ui/format.ts'
import { useNow } from '../ui/now.ts'
import { listServers, resourceFigures, useResourcesOnScreen, useServersLive } from '../ui/servers-live.ts'

/**
 * Every server with its status and agent as they change, and the resources of those on screen;
 * admins add and remove them.
 */
export default function Servers() {
  const servers = useLoad(listServers, [])
  const refused = useServersLive(servers)
  const live = useResourcesOnScreen(servers.data ?? [])
  const now = useNow()
  const [adding, setAdding] = useState(false)
  const remove = async (id: string) => {
    await call(api().servers[':id'].$delete({ param: { id } }))
    servers.set((list) => list?.filter((s) => s.id !== id))
  }
  return (
    <>
      <div class="heading">
        <h1>Servers</h1>
        {isAdmin() && !adding && (
          <button type="button" class="primary" onClick={() => setAdding(true)}>
            Add a server
          </button>
        )}
      </div>
      {adding && (
        <AddServer
          servers={servers.data ?? []}
          onClose={() => setAdding(false)}
          onCreated={(server) => servers.set((list) => [...(list ?? []), server])}
        />
      )}
      <ErrorNote error={servers.error} />
      <ErrorNote error={refused} />
      <ErrorNote error={live.error} />
      {servers.data?.length === 0 && <p class="muted">No server yet.</p>}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Last seen</th>
              <th scope="col">CPU load</th>
              <th scope="col">Memory</th>
              <th scope="col">Disk</th>
              <th scope="col">Agent</th>
              <th scope="col">Docker</th>
              <th scope="col">Arch</th>
              {isAdmin() && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {(servers.data ?? []).map((server) => {
              const figures = resourceFigures(live.resources[server.id])
              return (
                <tr key={server.id} ref={live.observe} data-server={server.id}>
                  <td>
                    <Link href={`/servers/${server.id}`}>{server.name}</Link>
                  </td>
                  <td>
                    <span class={`status ${server.status}`}>{server.status}</span>
                  </td>
                  <td>{ago(server.last_seen_at, now)}</td>
                  <td>{server.status === 'online' ? figures.cpu : '–'}</td>
                  <td>{server.status === 'online' ? figures.memory : '–'}</td>
                  <td>{server.status === 'online' ? figures.disk : '–'}</td>
                  <td>{server.agent?.version ?? '–'}</td>
                  <td>{server.agent?.docker_version ?? '–'}</td>
                  <td>{server.agent?.arch ?? '–'}</td>
                  {isAdmin() && (
                    <td>
                      <ConfirmButton
                        label={`Remove ${server.name}`}
                        confirm={`Remove ${server.name} for good`}
                        onConfirm={() => remove(server.id)}
                      >
                        Remove
                      </ConfirmButton>
                    </td>
                  )}
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
    </>
  )
}
