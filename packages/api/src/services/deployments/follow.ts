import type { DeploymentState, LogLine } from '@berth/shared'
import type { ServiceContext } from '../../context.ts'
import { ApiError } from '../../errors.ts'
import { log } from '../../lib/log.ts'
import { deploymentLines, findDeployment, isFinal } from './read.ts'

export type DeploymentEvent =
  | { type: 'log'; line: LogLine }
  | { type: 'state'; state: DeploymentState; reason: string | null }
  | { type: 'end'; state: DeploymentState; reason: string | null }

interface Follower {
  after: number
  state: string
  events: DeploymentEvent[]
  failure: ApiError | null
  wake: (() => void) | null
}

/**
 * The followers of one deployment in this process, served by one read at a time, woken through
 * one watch of the deployment's writes (`Hub.watchDeployment`), held on behalf of one of them.
 */
interface Feed {
  followers: Set<Follower>
  reading: boolean
  again: boolean
  readAt: number
  /** Known from the first read: whose agent reports the deployment, where its writes are watched. */
  serverId: string | null
  watch: { by: Follower; end: () => void } | null
  /** The watch hears every write: followers wait for it alone, with no fallback read. */
  live: boolean
}

const feeds = new Map<string, Feed>()

/** Called by each write of a deployment's lines or state, so its followers, wherever they are, read it. */
export function wakeFollowers(ctx: ServiceContext, row: { id: string; serverId: string }): void {
  ctx.hub.deploymentWritten(row.serverId, row.id)
}

function notify(follower: Follower): void {
  const wake = follower.wake
  follower.wake = null
  wake?.()
}

/**
 * Watches the deployment's writes for the feed, from a follower's own task (on Workers a stream
 * belongs to the request that opened it). A lost watch leaves the followers on the fallback read,
 * which watches again.
 */
function watchFeed(ctx: ServiceContext, id: string, feed: Feed, by: Follower): void {
  if (feed.watch || !feed.serverId) return
  const watch: Feed['watch'] = {
    by,
    end: ctx.hub.watchDeployment(feed.serverId, id, {
      written: () => {
        if (feed.watch === watch) void readFeed(ctx, id, feed)
      },
      // What was written before the watch was in place is read now.
      inPlace: () => {
        if (feed.watch !== watch) return
        feed.live = true
        void readFeed(ctx, id, feed)
      },
      lost: () => unwatchFeed(feed, watch),
    }),
  }
  feed.watch = watch
}

function unwatchFeed(feed: Feed, watch: Feed['watch']): void {
  if (!watch || feed.watch !== watch) return
  watch.end()
  feed.watch = null
  feed.live = false
  for (const f of feed.followers) notify(f)
}

/** Reads what changed once for every follower of a deployment; a read asked for meanwhile runs after. */
async function readFeed(ctx: ServiceContext, id: string, feed: Feed): Promise<void> {
  if (feed.reading) {
    feed.again = true
    return
  }
  if (feed.followers.size === 0) return
  feed.reading = true
  try {
    do {
      feed.again = false
      feed.readAt = Date.now()
      const after = Math.min(...[...feed.followers].map((f) => f.after))
      // State first, then lines: lines written before a final state are all read after seeing it.
      const row = await findDeployment(ctx, id)
      feed.serverId = row.serverId
      const lines = await deploymentLines(ctx, { id, after })
      for (const f of feed.followers) {
        for (const line of lines) {
          if (line.seq <= f.after) continue
          f.events.push({ type: 'log', line })
          f.after = line.seq
        }
        if (row.state !== f.state) {
          f.state = row.state
          f.events.push({ type: 'state', state: row.state, reason: row.reason })
        }
        if (isFinal(row.state)) f.events.push({ type: 'end', state: row.state, reason: row.reason })
        notify(f)
      }
    } while (feed.again && feed.followers.size > 0)
  } catch (err) {
    const failure = err instanceof ApiError ? err : null
    if (!failure) log.error(`reading the output of deployment ${id} failed`, err)
    for (const f of feed.followers) {
      // A deployment gone (its app deleted) ends its follows; anything else is tried again.
      if (failure?.kind === 'not_found') f.failure = failure
      notify(f)
    }
  } finally {
    feed.reading = false
  }
}

/**
 * A deployment's output from line `after` on, then its state as it moves, then `end` once it is
 * over. Woken by the writes that feed it, wherever they are made; read every `followFallbackMs`
 * only while that watch is not in place. Ends early, throwing `why`, when stopped with one.
 */
export function followDeploymentLogs(
  ctx: ServiceContext,
  input: { id: string; after: number },
): AsyncIterable<DeploymentEvent> & { stop(why?: ApiError): void } {
  const follower: Follower = { after: input.after, state: '', events: [], failure: null, wake: null }
  let stopped = false
  return {
    stop(why) {
      stopped = true
      if (why) follower.failure = why
      notify(follower)
    },
    async *[Symbol.asyncIterator]() {
      let feed = feeds.get(input.id)
      if (!feed) {
        feed = {
          followers: new Set(),
          reading: false,
          again: false,
          readAt: 0,
          serverId: null,
          watch: null,
          live: false,
        }
        feeds.set(input.id, feed)
      }
      feed.followers.add(follower)
      try {
        void readFeed(ctx, input.id, feed)
        while (!stopped || follower.failure) {
          const event = follower.events.shift()
          if (event) {
            yield event
            if (event.type === 'end') return
            continue
          }
          if (follower.failure) throw follower.failure
          watchFeed(ctx, input.id, feed, follower)
          let timer: ReturnType<typeof setTimeout> | undefined
          await new Promise<void>((resolve) => {
            follower.wake = resolve
            if (!feed.live) timer = setTimeout(resolve, ctx.config.followFallbackMs)
          })
          clearTimeout(timer)
          follower.wake = null
          if (
            !feed.live &&
            follower.events.length === 0 &&
            Date.now() - feed.readAt >= ctx.config.followFallbackMs
          ) {
            void readFeed(ctx, input.id, feed)
          }
        }
      } finally {
        feed.followers.delete(follower)
        // The watch was held for this follower: another one still here watches again.
        if (feed.watch?.by === follower) unwatchFeed(feed, feed.watch)
        if (feed.followers.size === 0 && feeds.get(input.id) === feed) feeds.delete(input.id)
      }
    },
  }
}
