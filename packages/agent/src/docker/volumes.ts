import { z } from 'zod'
import { type VolumeListing, type VolumePrune, volumeListing, volumePrune } from './replies.ts'
import type { Transport } from './transport.ts'

/** Named volumes. */
export interface VolumeClient {
  listVolumes(signal?: AbortSignal): Promise<VolumeListing[]>
  createVolume(name: string, labels: Record<string, string>, signal?: AbortSignal): Promise<VolumeListing>
  removeVolume(name: string, force: boolean, signal?: AbortSignal): Promise<void>
  pruneVolumes(signal?: AbortSignal): Promise<VolumePrune>
}

export function volumeClient({ send, act }: Transport): VolumeClient {
  return {
    async listVolumes(signal) {
      const reply = await send(
        { method: 'GET', path: '/volumes', signal },
        z.object({ Volumes: z.array(volumeListing).nullish() }),
      )
      return reply.Volumes ?? []
    },
    createVolume: (name, labels, signal) =>
      send(
        { method: 'POST', path: '/volumes/create', body: { Name: name, Labels: labels }, signal },
        volumeListing,
      ),
    removeVolume: (name, force, signal) =>
      act({ method: 'DELETE', path: `/volumes/${encodeURIComponent(name)}`, query: { force }, signal }),
    pruneVolumes: (signal) => send({ method: 'POST', path: '/volumes/prune', signal }, volumePrune),
  }
}
