import { useRef, useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { useLoad } from '../load.ts'
import { Link } from '../router.tsx'
import { canWrite } from '../session.ts'
import { ActionButton } from '../ui/busy.tsx'
import { ErrorNote } from '../ui/error.tsx'
import { BuildLog } from './app/build-log.tsx'
import { queueDeploy } from './app/deploy.ts'
import { DeployKey } from './app/deploy-key.tsx'
import { Domains } from './app/domains.tsx'
import { EnvEditor } from './app/env.tsx'
import { AppStats, HealthLog } from './app/health.tsx'
import { History } from './app/history.tsx'
import { type App, type Deployment, getApp, inProgress, listDeployments } from './app/types.ts'
import { Webhooks } from './app/webhooks.tsx'

function sourceText(source: App['source']): string {
  if (source.type === 'git') return `git ${source.url} (${source.branch})`
  if (source.type === 'image') return `image ${source.image}`
  return 'uploaded tarball'
}

/** One app: Deploy, the build log of its latest (or chosen) deployment as it runs, and its parts. */
export default function AppPage({ params }: { params: Record<string, string> }) {
  const id = params.id!
  const app = useLoad(() => getApp(id), [id])
  const deployments = useLoad(() => listDeployments(id), [id])
  const serverId = app.data?.server_id
  const server = useLoad(
    async () =>
      serverId ? (await call(api().servers[':id'].$get({ param: { id: serverId } }))).server : undefined,
    [serverId],
  )
  const [chosen, setChosen] = useState<string | null>(null)
  const tarball = useRef<HTMLInputElement>(null)
  const watching = chosen ?? deployments.data?.[0]?.id ?? null
  const watched = deployments.data?.find((d) => d.id === watching)

  const queued = (deployment: Deployment) => {
    deployments.set((list) => [deployment, ...(list ?? []).filter((d) => d.id !== deployment.id)])
    setChosen(deployment.id)
  }
  const deploy = async () => {
    const file = tarball.current?.files?.[0]
    if (app.data?.source.type === 'upload' && !file) throw new Error('Choose a .tar.gz file to deploy')
    queued(await queueDeploy(id, file))
  }
  const stateChanged = (deploymentId: string) => (state: Deployment['state'], reason: string | null) => {
    deployments.set((list) => list?.map((d) => (d.id === deploymentId ? { ...d, state, reason } : d)))
    // A finished deployment changes the app's current one and the states of those it replaced.
    if (!inProgress(state)) {
      void app.reload()
      void deployments.reload()
    }
  }

  const a = app.data
  return (
    <>
      <p class="muted">
        <Link href="/apps">Apps</Link> /
      </p>
      <h1>{a?.name ?? 'App'}</h1>
      <ErrorNote error={app.error} />
      {a && (
        <section class="panel" aria-label="Summary">
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <span class={`status ${a.status ?? 'none'}`}>{a.status ?? 'not deployed'}</span>
            </dd>
            <dt>Server</dt>
            <dd>
              <Link href={`/servers/${a.server_id}`}>{server.data?.name ?? a.server_id}</Link>{' '}
              {server.data && <span class={`status ${server.data.status}`}>{server.data.status}</span>}
            </dd>
            <dt>Source</dt>
            <dd>{sourceText(a.source)}</dd>
            <dt>Port</dt>
            <dd>
              {a.port}
              {a.host_port ? ` (on the server: ${a.host_port})` : ''}
            </dd>
            <dt>Current deployment</dt>
            <dd class="mono">{a.current_deployment_id ?? '–'}</dd>
          </dl>
          {canWrite() && (
            <div class="actions deploy">
              {a.source.type === 'upload' && (
                <label>
                  Tarball to deploy
                  <input ref={tarball} type="file" accept=".tar.gz,.tgz,application/gzip" />
                </label>
              )}
              <ActionButton class="primary" onClick={deploy}>
                Deploy
              </ActionButton>
            </div>
          )}
        </section>
      )}
      <ErrorNote error={deployments.error} />
      {watching && (
        <BuildLog
          key={watching}
          id={watching}
          initialState={watched?.state ?? 'queued'}
          onState={stateChanged(watching)}
        />
      )}
      {deployments.data && (
        <History
          appId={id}
          deployments={deployments.data}
          currentId={a?.current_deployment_id ?? null}
          onQueued={queued}
          onWatch={setChosen}
        />
      )}
      <EnvEditor appId={id} />
      <Domains appId={id} />
      <Webhooks appId={id} />
      <DeployKey appId={id} />
      <HealthLog appId={id} />
      <AppStats appId={id} />
    </>
  )
}
