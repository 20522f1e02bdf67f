import { APP_LABELS } from '@berth/shared'
import type { ContainerListing, Docker } from '../docker/index.ts'
import type { ServedApp, Upstream } from '../proxy/config.ts'
import { healthCheckLabel } from './health.ts'
import { bridgeAddress, SERVER_LABEL } from './rollout.ts'

/** Where a container of an app answers now. */
export async function upstreamOf(docker: Docker, dockerId: string, port: number): Promise<Upstream> {
  return { dockerId, host: bridgeAddress(await docker.inspectContainer(dockerId)), port }
}

/**
 * The apps whose containers run on this host for `serverId`, each as its deployment that served
 * last (`served`, by app id) or else its newest one left them: host port, containers, health path.
 * Apps whose deployment `deploying` says is under way are left out: that deploy routes them.
 */
export async function servedByContainers(input: {
  docker: Docker
  serverId: string
  served: Record<string, string>
  deploying(deploymentId: string): boolean
}): Promise<ServedApp[]> {
  const { docker } = input
  const containers = await docker.findContainers([APP_LABELS.app, `${SERVER_LABEL}=${input.serverId}`])
  const byApp = new Map<string, ContainerListing[]>()
  for (const c of containers) {
    const appId = c.Labels?.[APP_LABELS.app]
    if (c.State !== 'running' || !appId) continue
    byApp.set(appId, [...(byApp.get(appId) ?? []), c])
  }
  const apps: ServedApp[] = []
  for (const [appId, listed] of byApp) {
    const newest = listed.reduce((a, b) => ((b.Created ?? 0) > (a.Created ?? 0) ? b : a))
    const last = listed.find((c) => c.Labels?.[APP_LABELS.deployment] === input.served[appId])
    const labels = (last ?? newest).Labels ?? {}
    const deployment = labels[APP_LABELS.deployment]
    const hostPort = Number(labels[APP_LABELS.hostPort])
    const port = Number(labels[APP_LABELS.port])
    if (!(hostPort > 0 && port > 0) || (deployment && input.deploying(deployment))) continue
    const members = listed.filter((c) => c.Labels?.[APP_LABELS.deployment] === deployment)
    const upstreams = await Promise.all(members.map((c) => upstreamOf(docker, c.Id, port)))
    apps.push({ appId, hostPort, upstreams, health: healthOf(labels[APP_LABELS.health]) })
  }
  return apps
}

/** The path Caddy's active health checks GET, from the app's health check label. */
export function healthOf(label: string | undefined): ServedApp['health'] {
  if (!label) return null
  try {
    const check = healthCheckLabel.parse(JSON.parse(label))
    return check.path ? { path: check.path, intervalS: check.interval, timeoutS: check.timeout } : null
  } catch {
    return null
  }
}
