import {
  type ContainerDetail,
  type ContainerDetailView,
  type ContainerView,
  SECRET_ENV_KEY,
} from '@berth/shared'
import { iso, isoOrNull } from '../lib/time.ts'
import type { ContainerRow } from './inventory.ts'

export function userLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => !k.startsWith('berth.')))
}

export function toContainerView(row: ContainerRow): ContainerView {
  return {
    id: row.id,
    docker_id: row.dockerId,
    server_id: row.serverId,
    name: row.name,
    image: row.image,
    status: row.status,
    exit_code: row.exitCode,
    health: row.health,
    ports: row.ports,
    tags: row.tags,
    labels: userLabels(row.labels),
    managed: row.managed,
    host_access: row.hostAccess,
    created_at: iso(row.dockerCreatedAt),
    started_at: isoOrNull(row.startedAt),
    finished_at: isoOrNull(row.finishedAt),
    observed_at: iso(row.observedAt),
  }
}

/** The detail of a live container on top of its row: env (secrets masked unless revealed), mounts, limits. */
export function toDetailView(
  row: ContainerRow,
  { detail, reveal }: { detail: ContainerDetail; reveal: boolean },
): ContainerDetailView {
  const env = Object.fromEntries(
    Object.entries(detail.env).map(([k, v]) => [k, reveal || !SECRET_ENV_KEY.test(k) ? v : '********']),
  )
  return {
    ...toContainerView(row),
    // What Docker says now wins over the stored copy.
    name: detail.name,
    image: detail.image,
    status: detail.status,
    exit_code: detail.exit_code,
    health: detail.health,
    ports: detail.ports,
    started_at: isoOrNull(detail.started_at),
    finished_at: isoOrNull(detail.finished_at),
    env,
    cmd: detail.cmd,
    entrypoint: detail.entrypoint,
    working_dir: detail.working_dir,
    mounts: detail.mounts,
    resources: detail.resources,
    restart: detail.restart,
    networks: detail.networks,
  }
}
