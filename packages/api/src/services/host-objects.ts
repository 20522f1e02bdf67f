import type { createNetworkBody, createVolumeBody } from '@berth/shared'
import type { z } from 'zod'
import type { ActorContext } from '../context.ts'
import { findServer } from './servers.ts'

// Images, volumes and networks live only on the host: each of these is one call to its agent.

/** Pulling waits on a registry; it gets more time than a plain call. */
const PULL_TIMEOUT_MS = 600_000
const PRUNE_TIMEOUT_MS = 300_000

export async function listImages(ctx: ActorContext, serverId: string) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'image.list', {})
}

export async function pullImage(ctx: ActorContext, serverId: string, image: string) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'image.pull', { image }, { timeoutMs: PULL_TIMEOUT_MS })
}

export async function removeImage(ctx: ActorContext, serverId: string, ref: string, force: boolean) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'image.remove', { ref, force })
}

export async function pruneImages(ctx: ActorContext, serverId: string, all: boolean) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'image.prune', { all }, { timeoutMs: PRUNE_TIMEOUT_MS })
}

export async function listVolumes(ctx: ActorContext, serverId: string) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'volume.list', {})
}

export async function createVolume(
  ctx: ActorContext,
  serverId: string,
  input: z.infer<typeof createVolumeBody>,
) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'volume.create', input)
}

export async function removeVolume(ctx: ActorContext, serverId: string, name: string, force: boolean) {
  await findServer(ctx, serverId)
  await ctx.hub.call(serverId, 'volume.remove', { name, force })
}

export async function pruneVolumes(ctx: ActorContext, serverId: string) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'volume.prune', {}, { timeoutMs: PRUNE_TIMEOUT_MS })
}

export async function listNetworks(ctx: ActorContext, serverId: string) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'network.list', {})
}

export async function createNetwork(
  ctx: ActorContext,
  serverId: string,
  input: z.infer<typeof createNetworkBody>,
) {
  await findServer(ctx, serverId)
  return ctx.hub.call(serverId, 'network.create', input)
}

export async function removeNetwork(ctx: ActorContext, serverId: string, ref: string) {
  await findServer(ctx, serverId)
  await ctx.hub.call(serverId, 'network.remove', { ref })
}
