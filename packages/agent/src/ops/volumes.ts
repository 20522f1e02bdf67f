import type { OpResult } from '@berth/shared'
import { unixMs } from '../containers/report.ts'
import type { VolumeListing } from '../docker/index.ts'
import type { OpHandlers } from './context.ts'

export const volumeOps: Pick<OpHandlers, 'volume.list' | 'volume.create' | 'volume.remove' | 'volume.prune'> =
  {
    'volume.list': async (_args, { docker, signal }) => {
      const [volumes, containers] = await Promise.all([
        docker.listVolumes(signal),
        docker.listContainers(true, signal),
      ])
      const used = new Set(
        containers.flatMap((c) => (c.Mounts ?? []).flatMap((m) => (m.Name ? [m.Name] : []))),
      )
      return { volumes: volumes.map((v) => volumeInfo(v, used.has(v.Name))) }
    },
    'volume.create': async ({ name, labels }, { docker, signal }) => ({
      volume: volumeInfo(await docker.createVolume(name, labels, signal), null),
    }),
    'volume.remove': async ({ name, force }, { docker, signal }) => {
      await docker.removeVolume(name, force, signal)
      return {}
    },
    'volume.prune': async (_args, { docker, signal }) => {
      const pruned = await docker.pruneVolumes(signal)
      return { deleted: pruned.VolumesDeleted ?? [], reclaimed_bytes: pruned.SpaceReclaimed }
    },
  }

function volumeInfo(
  volume: VolumeListing,
  inUse: boolean | null,
): OpResult<'volume.list'>['volumes'][number] {
  return {
    name: volume.Name,
    driver: volume.Driver,
    mountpoint: volume.Mountpoint,
    created_at: unixMs(volume.CreatedAt),
    labels: volume.Labels ?? {},
    in_use: inUse,
  }
}
