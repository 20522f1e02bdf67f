import { useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { useLoad } from '../load.ts'
import { Link, navigate } from '../router.tsx'
import { canWrite } from '../session.ts'
import { ActionButton } from '../ui/busy.tsx'
import { ContainerEnv } from '../ui/container-env.tsx'
import { ContainerLogs } from '../ui/container-logs.tsx'
import { ContainerStats } from '../ui/container-stats.tsx'
import { ContainerTerminal } from '../ui/container-terminal.tsx'
import { ErrorNote } from '../ui/error.tsx'
import { dateTime } from '../ui/format.ts'

// One container: what it is, its actions, and its live log, stats, environment and terminal.

type Action = 'start' | 'stop' | 'restart'

/** The container page at /servers/:sid/containers/:cid. */
export default function ContainerPage({ params }: { params: Record<string, string> }) {
  const { sid = '', cid = '' } = params
  const param = { sid, cid }
  const ref = api().servers[':sid'].containers[':cid']
  const container = useLoad(async () => (await call(ref.$get({ param, query: {} }))).container, [sid, cid])
  const [removing, setRemoving] = useState(false)
  const act = async (action: Action) => {
    const { container: next } = await call(
      action === 'start' ? ref.start.$post({ param }) : ref[action].$post({ param, json: {} }),
    )
    container.set((current) => (current ? { ...current, ...next } : current))
  }
  const remove = async () => {
    await call(ref.$delete({ param, query: { force: 'true' } }))
    navigate(`/servers/${encodeURIComponent(sid)}`)
  }
  const c = container.data
  // The last known copy (the agent offline) has no inspect fields.
  const live = c && 'env' in c ? c : undefined
  return (
    <>
      <p class="crumbs">
        <Link href={`/servers/${encodeURIComponent(sid)}`}>Server</Link> / Container
      </p>
      <h1>{c?.name ?? cid}</h1>
      <ErrorNote error={container.error} />
      {c?.stale && (
        <p class="banner" role="status">
          The server's agent is offline: this is the container as last seen {dateTime(c.observed_at)}.
        </p>
      )}
      {c && (
        <>
          <div class="panel">
            <dl class="facts">
              <dt>Status</dt>
              <dd>
                <span class={`status ${c.status}`}>{c.status}</span>
                {c.exit_code !== null && c.status !== 'running' ? ` (exit code ${c.exit_code})` : ''}
                {c.health !== 'none' ? `, ${c.health}` : ''}
              </dd>
              <dt>Image</dt>
              <dd class="mono">{c.image}</dd>
              <dt>Command</dt>
              <dd class="mono">{[...(live?.entrypoint ?? []), ...(live?.cmd ?? [])].join(' ') || '–'}</dd>
              <dt>Ports</dt>
              <dd>{c.ports.map((p) => `${p.host ?? '–'}→${p.container}/${p.protocol}`).join(', ') || '–'}</dd>
              <dt>Tags</dt>
              <dd>{c.tags.join(', ') || '–'}</dd>
              <dt>Restart</dt>
              <dd>{live?.restart ?? '–'}</dd>
              <dt>Started</dt>
              <dd>{dateTime(c.started_at)}</dd>
              <dt>Created</dt>
              <dd>{dateTime(c.created_at)}</dd>
              <dt>Docker id</dt>
              <dd class="mono">{c.docker_id.slice(0, 12)}</dd>
            </dl>
          </div>
          {canWrite() && (
            <div class="actions">
              <ActionButton onClick={() => act('start')}>Start</ActionButton>
              <ActionButton onClick={() => act('stop')}>Stop</ActionButton>
              <ActionButton onClick={() => act('restart')}>Restart</ActionButton>
              {removing ? (
                <>
                  <ActionButton class="danger" onClick={remove}>
                    Remove {c.name} for good
                  </ActionButton>
                  <button type="button" onClick={() => setRemoving(false)}>
                    Keep it
                  </button>
                </>
              ) : (
                <button type="button" class="danger" onClick={() => setRemoving(true)}>
                  Remove
                </button>
              )}
            </div>
          )}
          <ContainerLogs key={c.started_at ?? 'never'} serverId={sid} containerId={cid} />
          <ContainerStats serverId={sid} containerId={cid} />
          <ContainerEnv serverId={sid} containerId={cid} env={live?.env ?? {}} />
          <ContainerTerminal serverId={sid} containerId={cid} />
        </>
      )}
    </>
  )
}
