import { api, call } from '../api.ts'
import { useLoad } from '../load.ts'
import { ContainersTable } from '../ui/containers-table.tsx'
import { ErrorNote } from '../ui/error.tsx'
import { ago, bytes, dateTime } from '../ui/format.ts'
import { Images, Networks, Volumes } from '../ui/host-objects.tsx'
import { useNow } from '../ui/now.ts'
import { resourceFigures, useResources, useServersLive } from '../ui/servers-live.ts'

/** One server: what it is, what it uses now, and its containers, images, volumes and networks. */
export default function ServerPage({ params }: { params: Record<string, string> }) {
  const id = params.id!
  // A list of one, so the servers list's live updates serve this page too.
  const servers = useLoad(
    async () => [(await call(api().servers[':id'].$get({ param: { id } }))).server],
    [id],
  )
  const refused = useServersLive(servers, id)
  const server = servers.data?.[0]
  const live = useResources(server?.status === 'online' ? [id] : [])
  const now = useNow()
  if (!server) {
    return (
      <>
        <h1>Server</h1>
        <ErrorNote error={servers.error} />
        {!servers.error && <p class="muted">Loading…</p>}
      </>
    )
  }
  const resources = live.resources[server.id]
  const figures = resourceFigures(resources)
  const online = server.status === 'online'
  return (
    <>
      <h1>{server.name}</h1>
      <ErrorNote error={refused} />
      <ErrorNote error={live.error} />
      <div class="grid">
        <section class="panel" aria-labelledby="facts-title">
          <h2 id="facts-title">Server</h2>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <span class={`status ${server.status}`}>{server.status}</span>
            </dd>
            <dt>Last seen</dt>
            <dd>{ago(server.last_seen_at, now)}</dd>
            <dt>Hostname</dt>
            <dd>{server.agent?.hostname ?? '–'}</dd>
            <dt>Agent</dt>
            <dd>{server.agent?.version ?? '–'}</dd>
            <dt>Docker</dt>
            <dd>{server.agent?.docker_version ?? '–'}</dd>
            <dt>OS, arch</dt>
            <dd>{server.agent?.os ? `${server.agent.os}, ${server.agent.arch}` : '–'}</dd>
            <dt>Added</dt>
            <dd>{dateTime(server.created_at)}</dd>
          </dl>
        </section>
        <section class="panel" aria-labelledby="resources-title">
          <h2 id="resources-title">Resources</h2>
          <dl class="facts">
            <dt>CPU</dt>
            <dd>
              {online ? `${figures.cpu} of ${resources?.cpus ?? server.agent?.cpus ?? '–'} cores` : '–'}
            </dd>
            <dt>Memory</dt>
            <dd>{online ? figures.memory : bytes(server.agent?.memory_bytes)}</dd>
            <dt>Disk</dt>
            <dd>{online ? figures.disk : '–'}</dd>
            <dt>Containers</dt>
            <dd>
              {resources && online
                ? `${resources.docker.running} running of ${resources.docker.containers}`
                : '–'}
            </dd>
          </dl>
        </section>
      </div>
      <section aria-labelledby="containers-title">
        <h2 id="containers-title">Containers</h2>
        <ContainersTable serverId={server.id} />
      </section>
      <Images serverId={server.id} />
      <Volumes serverId={server.id} />
      <Networks serverId={server.id} />
    </>
  )
}
