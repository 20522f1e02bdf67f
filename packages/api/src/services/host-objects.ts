import type { createNetworkBody, createVolumeBody, OpArgs, OpName, OpResult } from '@berth/shared'
import type { z } from 'zod'
import type { ActorContext } from '../context.ts'
import type { CallOptions } from '../hub/hub.ts'
import { findServer, refuseAgentOwn } from './servers.ts'

// Images, volumes and networks live only on the host: each of these is one call to its agent.

/** Pulling waits on a registry; it gets more time than a plain call. */
const PULL_TIMEOUT_MS = 600_000
const PRUNE_TIMEOUT_MS = 300_000

/** One op on a known server's agent (404 for an unknown server, not 503). */
async function onServer<O extends OpName>(
  ctx: ActorContext,
  serverId: string,
  op: O,
  args: OpArgs<O>,
  opts?: CallOptions,
): Promise<OpResult<O>> {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, op, args, opts)
}

export const listImages = (ctx: ActorContext, serverId: string) => onServer(ctx, serverId, 'image.list', {})

export const pullImage = (ctx: ActorContext, { serverId, image }: { serverId: string; image: string }) =>
  onServer(ctx, serverId, 'image.pull', { image }, { timeoutMs: PULL_TIMEOUT_MS })

export const removeImage = (
  ctx: ActorContext,
  { serverId, ref, force }: { serverId: string; ref: string; force: boolean },
) => onServer(ctx, serverId, 'image.remove', { ref, force })

export const pruneImages = (ctx: ActorContext, { serverId, all }: { serverId: string; all: boolean }) =>
  onServer(ctx, serverId, 'image.prune', { all }, { timeoutMs: PRUNE_TIMEOUT_MS })

export const listVolumes = (ctx: ActorContext, serverId: string) => onServer(ctx, serverId, 'volume.list', {})

export const createVolume = (
  ctx: ActorContext,
  { serverId, body }: { serverId: string; body: z.infer<typeof createVolumeBody> },
) => onServer(ctx, serverId, 'volume.create', body)

export async function removeVolume(
  ctx: ActorContext,
  { serverId, name, force }: { serverId: string; name: string; force: boolean },
) {
  await refuseAgentOwn(ctx, { serverId, volumes: [name] })
  await onServer(ctx, serverId, 'volume.remove', { name, force })
}

export const pruneVolumes = (ctx: ActorContext, serverId: string) =>
  onServer(ctx, serverId, 'volume.prune', {}, { timeoutMs: PRUNE_TIMEOUT_MS })

export const listNetworks = (ctx: ActorContext, serverId: string) =>
  onServer(ctx, serverId, 'network.list', {})

export const createNetwork = (
  ctx: ActorContext,
  { serverId, body }: { serverId: string; body: z.infer<typeof createNetworkBody> },
) => onServer(ctx, serverId, 'network.create', body)

export async function removeNetwork(ctx: ActorContext, { serverId, ref }: { serverId: string; ref: string }) {
  await onServer(ctx, serverId, 'network.remove', { ref })
}
