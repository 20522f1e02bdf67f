import type { OpResult } from '@berth/shared'
import { unixMs } from '../containers/report.ts'
import type { ImageInspect, ImageListing } from '../docker/index.ts'
import type { OpHandlers } from './context.ts'

export const imageOps: Pick<OpHandlers, 'image.list' | 'image.pull' | 'image.remove' | 'image.prune'> = {
  'image.list': async (_args, { docker, signal }) => ({
    images: (await docker.listImages(signal)).map(imageInfo),
  }),
  'image.pull': async ({ image }, { docker, signal }) => {
    await docker.pullImage(image, signal)
    return { image: imageInfo(await docker.inspectImage(image, signal)) }
  },
  'image.remove': async ({ ref, force }, { docker, signal }) => {
    const removed = await docker.removeImage(ref, force, signal)
    return {
      deleted: removed.flatMap((r) => (r.Deleted ? [r.Deleted] : [])),
      untagged: removed.flatMap((r) => (r.Untagged ? [r.Untagged] : [])),
    }
  },
  'image.prune': async ({ all }, { docker, signal }) => {
    const pruned = await docker.pruneImages(all, signal)
    return {
      deleted: (pruned.ImagesDeleted ?? []).flatMap((r) => (r.Deleted ? [r.Deleted] : [])),
      reclaimed_bytes: pruned.SpaceReclaimed,
    }
  },
}

type ImageInfo = OpResult<'image.pull'>['image']

function imageInfo(image: ImageListing | ImageInspect): ImageInfo {
  const counted = 'Containers' in image ? image.Containers : null
  return {
    id: image.Id,
    tags: (image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>'),
    size: image.Size,
    created_at: typeof image.Created === 'number' ? image.Created * 1000 : (unixMs(image.Created) ?? 0),
    // Docker counts an image's containers only when asked for disk usage; -1 is "not counted".
    containers: typeof counted === 'number' && counted >= 0 ? counted : null,
  }
}
