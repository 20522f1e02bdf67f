import { type Channel, parseChannel, realtimeClientFrame } from '@berth/shared'
import type { ActorContext, ClientSocket, ClientSocketHandlers, Level } from '../context.ts'
import { ApiError, errorBody } from '../errors.ts'
import { log } from '../lib/log.ts'
import { isoOrNull } from '../lib/time.ts'
import { auditAfter, latestAuditId } from './audit.ts'
import { assertLevel } from './auth.ts'
import { readClientFrame } from './client-frames.ts'
import { type ClientHold, holdClient, REVOKED_CLOSE } from './clients.ts'
import { type ContainerStates, containerChanges } from './container-lists.ts'
import { followContainerLogs } from './container-logs.ts'
import { findContainer } from './containers.ts'
import { followDeploymentLogs } from './deployments/follow.ts'
import { findDeployment } from './deployments/read.ts'
import { type ServerStates, serverChanges } from './server-lists.ts'
import { findServer } from './servers.ts'
import { statsHistory } from './stats.ts'

/** How often a subscription reads what changed in the database (the same on both runtimes). */
export const REALTIME_POLL_MS = 500
/** How often a subscribed, online server is asked for its resources. */
const RESOURCES_EVERY_MS = 5000
const MAX_SUBSCRIPTIONS = 64

type Emit = (event: string, data: unknown) => void

/** The access a channel needs, checked when it is subscribed and again when the credential changes. */
const channelLevel = (channel: Channel): Level => (channel.kind === 'audit' ? 'admin' : 'read')

/** Holds a realtime socket for the acting user: refused with a rate_limited error beyond the user's limits. */
export function holdRealtime(ctx: ActorContext, bearer: string): ClientHold {
  return holdClient(ctx, { bearer, socket: true, streams: 0 })
}

/**
 * One client's realtime socket: `subscribe` / `unsubscribe` / `ping`, and an `event` frame
 * `{channel, event, data}` for whatever happens on a subscribed channel. Each subscription is
 * checked against the caller's access when it is made; a channel that does not exist, or that
 * the caller may not see, is an `error` frame, and the socket stays open. What a subscription
 * streams from an agent (container logs) runs only while someone is subscribed. When the
 * credential changes, subscriptions it no longer allows end with an `error` frame for their
 * channel, and a credential no longer valid closes the socket.
 */
export function realtimeSession(
  opened: ActorContext,
  { hold, socket, ids }: { hold: ClientHold; socket: ClientSocket; ids: { requestId: string } },
): ClientSocketHandlers {
  // The actor is swapped for the narrower one a re-check finds.
  const ctx: ActorContext = { ...opened }
  const subscriptions = new Map<string, { channel: Channel; stop: () => void }>()
  const starting = new Set<string>()
  let open = true
  const send = (frame: object) => {
    if (open) socket.send(JSON.stringify(frame))
  }
  const sendError = (err: unknown, channel?: string) => {
    if (!(err instanceof ApiError)) log.error(`realtime failed request_id=${ids.requestId}`, err)
    const apiError =
      err instanceof ApiError ? err : new ApiError('internal', `internal error (request ${ids.requestId})`)
    send({
      type: 'error',
      ...(channel ? { channel } : {}),
      error: errorBody(apiError, ids.requestId, ctx.clock.now()),
    })
  }

  const subscribe = async (name: string) => {
    if (subscriptions.has(name) || starting.has(name)) {
      send({ type: 'subscribed', channel: name })
      return
    }
    const channel = parseChannel(name)
    if (!channel) {
      throw new ApiError('validation_error', `there is no channel ${name}`, { code: 'unknown_channel' })
    }
    if (subscriptions.size + starting.size >= MAX_SUBSCRIPTIONS) {
      throw new ApiError('conflict', `at most ${MAX_SUBSCRIPTIONS} subscriptions a socket`, {
        code: 'too_many_subscriptions',
      })
    }
    assertLevel(ctx.actor, { needed: channelLevel(channel) })
    hold.takeStream()
    starting.add(name)
    let started = false
    try {
      const stop = await start(ctx, channel, (event, data) =>
        send({ type: 'event', channel: name, event, data }),
      )
      started = true
      if (!open) stop()
      else {
        subscriptions.set(name, { channel, stop })
        send({ type: 'subscribed', channel: name })
      }
    } finally {
      starting.delete(name)
      if (!started || !open) hold.releaseStream()
    }
  }

  const unsubscribe = (name: string) => {
    const subscription = subscriptions.get(name)
    if (!subscription) return
    subscription.stop()
    subscriptions.delete(name)
    hold.releaseStream()
  }

  hold.watch((result) => {
    if (!open) return
    if ('error' in result) {
      sendError(result.error)
      open = false
      for (const { stop } of subscriptions.values()) stop()
      subscriptions.clear()
      hold.release()
      socket.close(REVOKED_CLOSE.code, REVOKED_CLOSE.reason)
      return
    }
    ctx.actor = result.actor
    for (const [name, { channel }] of subscriptions) {
      try {
        assertLevel(ctx.actor, { needed: channelLevel(channel) })
      } catch (err) {
        unsubscribe(name)
        sendError(err, name)
      }
    }
  })

  return {
    message(text) {
      const read = readClientFrame(realtimeClientFrame, text)
      if ('error' in read) {
        sendError(read.error)
        return
      }
      const { frame } = read
      switch (frame.type) {
        case 'ping':
          send({ type: 'pong' })
          return
        case 'subscribe':
          subscribe(frame.channel).catch((err) => sendError(err, frame.channel))
          return
        case 'unsubscribe':
          unsubscribe(frame.channel)
          send({ type: 'unsubscribed', channel: frame.channel })
          return
        default:
          frame satisfies never
      }
    },
    closed() {
      open = false
      for (const { stop } of subscriptions.values()) stop()
      subscriptions.clear()
      hold.release()
    },
  }
}

/** Starts a channel's feed once the caller may see it; resolves with how to stop it. */
async function start(ctx: ActorContext, channel: Channel, emit: Emit): Promise<() => void> {
  switch (channel.kind) {
    case 'servers':
      return changesFeed<ServerStates>((known) => serverChanges(ctx, { known }), 'server', emit)
    case 'server': {
      const { serverId } = channel
      await findServer(ctx, serverId)
      let status = ''
      let resourcesAt = 0
      return every(REALTIME_POLL_MS, async () => {
        const server = await findServer(ctx, serverId)
        if (server.status !== status) {
          status = server.status
          emit(status, { status, last_seen_at: isoOrNull(server.lastSeenAt) })
        }
        if (status === 'online' && Date.now() - resourcesAt >= RESOURCES_EVERY_MS) {
          resourcesAt = Date.now()
          emit('resources', await ctx.hub.call(serverId, 'host.resources', {}))
        }
      })
    }
    case 'containers': {
      const { serverId } = channel
      if (serverId !== undefined) await findServer(ctx, serverId)
      return changesFeed<ContainerStates>(
        (known) => containerChanges(ctx, { serverId, known }),
        'container',
        emit,
      )
    }
    case 'container-logs': {
      // By whatever alias, one stream on the host per container, however many subscribe.
      const logs = await followContainerLogs(ctx, {
        serverId: channel.serverId,
        ref: channel.container,
        query: { tail: 0, timestamps: false, follow: true },
        shared: true,
      })
      void (async () => {
        try {
          for await (const batch of logs) for (const entry of batch) emit('log', entry)
          emit('end', { reason: 'the container stopped' })
        } catch (err) {
          emit('end', { reason: err instanceof ApiError ? err.message : 'the stream ended' })
        }
      })()
      return () => logs.stop()
    }
    case 'container-stats': {
      const row = await findContainer(ctx, { serverId: channel.serverId, ref: channel.container })
      let last = Date.now()
      return every(REALTIME_POLL_MS, async () => {
        const points = await statsHistory(ctx, { containerId: row.id, since: Math.floor(last / 1000) })
        for (const point of points) {
          const at = Date.parse(point.at)
          if (at <= last) continue
          last = at
          emit('stats', point)
        }
      })
    }
    case 'deployment': {
      const { deploymentId } = channel
      await findDeployment(ctx, deploymentId)
      const follow = followDeploymentLogs(ctx, { id: deploymentId, after: -1 })
      void (async () => {
        for await (const event of follow) {
          if (event.type === 'log') emit('log', event.line)
          else if (event.type === 'state') emit('state', { state: event.state, reason: event.reason })
        }
      })().catch(() => {})
      return () => follow.stop()
    }
    case 'audit': {
      let lastId = await latestAuditId(ctx)
      return every(REALTIME_POLL_MS, async () => {
        for (const entry of await auditAfter(ctx, { afterId: lastId, limit: 100 })) {
          lastId = entry.id
          emit('entry', entry)
        }
      })
    }
  }
}

/**
 * A list's feed: `read` with no states gives the ones to start from; every poll after, each item
 * new or changed is an `event` and each one gone is `removed`.
 */
async function changesFeed<S>(
  read: (known: S | null) => Promise<{ states: S; changed: unknown[]; removed: unknown[] }>,
  event: string,
  emit: Emit,
): Promise<() => void> {
  let known = (await read(null)).states
  return every(REALTIME_POLL_MS, async () => {
    const { states, changed, removed } = await read(known)
    known = states
    for (const item of changed) emit(event, item)
    for (const gone of removed) emit('removed', gone)
  })
}

/** Runs `tick` every `ms` until stopped; a failing tick is logged and the next one runs. */
function every(ms: number, tick: () => Promise<void>): () => void {
  let active = true
  void (async () => {
    while (active) {
      try {
        await tick()
      } catch (err) {
        if (!(err instanceof ApiError)) log.error('a realtime subscription failed', err)
      }
      await new Promise((resolve) => setTimeout(resolve, ms))
    }
  })()
  return () => {
    active = false
  }
}
