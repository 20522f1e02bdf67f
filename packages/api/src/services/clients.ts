import type { Actor, ActorContext, Level, ServiceContext } from '../context.ts'
import { ApiError } from '../errors.ts'
import { log } from '../lib/log.ts'
import { assertLevel, authenticateBearer, forgetCachedActors } from './auth.ts'

/** Close codes of a client socket whose credential changed while it was open (see docs/api.md). */
export const REVOKED_CLOSE = { code: 4401, reason: 'credential no longer valid' } as const
export const NARROWED_CLOSE = { code: 4403, reason: 'access no longer allowed' } as const

/**
 * How often an open socket or stream re-checks its credential by itself, for a change made on
 * another API instance (this instance's changes re-check at once, through recheckClients).
 */
export const CLIENT_RECHECK_MS = 5_000
/** How long a change to users or tokens waits for the sockets it touches to be re-checked. */
const RECHECK_WAIT_MS = 5_000

/** What a re-check found: the actor the credential stands for now, or why it no longer counts. */
export type Recheck = { actor: Actor } | { error: ApiError }

/** An open socket or stream (terminal, realtime socket, followed log) held for its user. */
export interface ClientHold {
  /** Takes one more stream (a realtime subscription); a rate_limited ApiError beyond the user's limit. */
  takeStream(): void
  releaseStream(): void
  /**
   * Starts re-checking the credential: `checked` hears each outcome, and closes or narrows what
   * it no longer allows. It runs in the hold's own task, so on Workers the socket is touched
   * from the request that owns it.
   */
  watch(checked: (result: Recheck) => void): void
  /** The socket or stream ended; its share of the limits is given back. */
  release(): void
}

interface Entry {
  userId: string
  tokenId: string | null
  sockets: number
  streams: number
  /** Wakes the hold's own re-check loop; resolves once that re-check has run. */
  wake(): Promise<void>
}

// The open holds of this process (on Workers, of this isolate), by user.
const holds = new Map<string, Set<Entry>>()

const tooMany = (what: 'sockets' | 'streams', limit: number) =>
  new ApiError('rate_limited', `at most ${limit} open ${what} per user`, {
    code: `too_many_${what}` as const,
    details: { limit },
  })

function count(userId: string, key: 'sockets' | 'streams'): number {
  let n = 0
  for (const entry of holds.get(userId) ?? []) n += entry[key]
  return n
}

/**
 * Registers an open socket or stream of the acting user: refused with a rate_limited error
 * beyond the user's limits. Once watched and until released, its credential is re-checked when
 * the user or the token changes (recheckClients) and every CLIENT_RECHECK_MS.
 */
export function holdClient(
  ctx: ActorContext,
  kind: { bearer: string; socket: boolean; streams: number },
): ClientHold {
  const { userId } = ctx.actor
  const { maxSocketsPerUser, maxStreamsPerUser } = ctx.config
  if (kind.socket && count(userId, 'sockets') >= maxSocketsPerUser)
    throw tooMany('sockets', maxSocketsPerUser)
  if (count(userId, 'streams') + kind.streams > maxStreamsPerUser) throw tooMany('streams', maxStreamsPerUser)

  let released = false
  let wakeLoop: (() => void) | null = null
  let waiters: (() => void)[] = []
  const entry: Entry = {
    userId,
    tokenId: ctx.actor.type === 'token' ? ctx.actor.tokenId : null,
    sockets: kind.socket ? 1 : 0,
    streams: kind.streams,
    wake: () =>
      new Promise<void>((resolve) => {
        waiters.push(resolve)
        wakeLoop?.()
      }),
  }
  let mine = holds.get(userId)
  if (!mine) {
    mine = new Set()
    holds.set(userId, mine)
  }
  mine.add(entry)

  const recheckLoop = async (checked: (result: Recheck) => void) => {
    while (!released) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await new Promise<void>((resolve) => {
        wakeLoop = resolve
        timer = setTimeout(resolve, CLIENT_RECHECK_MS)
        if (waiters.length > 0) resolve()
      })
      clearTimeout(timer)
      wakeLoop = null
      const answered = waiters
      waiters = []
      if (!released) {
        const result = await authenticateBearer(ctx, kind.bearer).then(
          (actor): Recheck => ({ actor }),
          (err: unknown): Recheck | null => {
            if (err instanceof ApiError) return { error: err }
            // The database failing for a moment says nothing of the credential: the next check decides.
            // Its message can carry the query's parameters (a token's hash): only its name is logged.
            log.warn(
              `re-checking an open socket or stream failed (${err instanceof Error ? err.name : 'error'}); it stays open until the next check`,
            )
            return null
          },
        )
        if (result && !released) checked(result)
      }
      for (const resolve of answered) resolve()
    }
  }

  return {
    watch(checked) {
      void recheckLoop(checked)
    },
    takeStream() {
      if (count(userId, 'streams') >= maxStreamsPerUser) throw tooMany('streams', maxStreamsPerUser)
      entry.streams++
    },
    releaseStream() {
      entry.streams = Math.max(0, entry.streams - 1)
    },
    release() {
      if (released) return
      released = true
      mine.delete(entry)
      if (mine.size === 0 && holds.get(userId) === mine) holds.delete(userId)
      for (const resolve of waiters) resolve()
      waiters = []
      wakeLoop?.()
    },
  }
}

/** Watches a hold: once its credential no longer grants `level` (or fails `check`), `refused` hears why (once). */
export function endWhenRefused(
  hold: ClientHold,
  {
    level,
    check = (actor) => assertLevel(actor, { needed: level }),
    refused,
  }: { level: Level; check?: (actor: Actor) => void; refused: (err: ApiError) => void },
): void {
  let done = false
  hold.watch((result) => {
    if (done) return
    let refusal = 'error' in result ? result.error : null
    if ('actor' in result) {
      try {
        check(result.actor)
      } catch (err) {
        refusal = err as ApiError
      }
    }
    if (!refusal) return
    done = true
    hold.release()
    refused(refusal)
  })
}

/**
 * Opens a followed stream (SSE) held for the acting user: refused beyond the user's limits, and
 * stopped with why once the credential no longer allows reading. `release` when it ends.
 */
export async function holdFollow<T extends { stop(why?: ApiError): void }>(
  ctx: ActorContext,
  input: { bearer: string; open: () => T | Promise<T> },
): Promise<{ follow: T; release(): void }> {
  const hold = holdClient(ctx, { bearer: input.bearer, socket: false, streams: 1 })
  let follow: T
  try {
    follow = await input.open()
  } catch (err) {
    hold.release()
    throw err
  }
  endWhenRefused(hold, { level: 'read', refused: (why) => follow.stop(why) })
  return { follow, release: () => hold.release() }
}

/** The close code and reason of a socket ended by a refused re-check. */
export const closeFor = (refusal: ApiError) =>
  refusal.kind === 'auth_error' ? REVOKED_CLOSE : NARROWED_CLOSE

/**
 * A user or token changed (revoked, disabled, demoted, deleted, new password): every socket and
 * stream of theirs open here is re-checked now, and this resolves once they have been.
 */
export async function recheckClients(
  _ctx: ServiceContext,
  who: { userId: string } | { tokenId: string },
): Promise<void> {
  forgetCachedActors()
  const touched: Promise<void>[] = []
  for (const entries of holds.values()) {
    for (const entry of entries) {
      if ('userId' in who ? entry.userId === who.userId : entry.tokenId === who.tokenId)
        touched.push(entry.wake())
    }
  }
  if (touched.length === 0) return
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([
    Promise.all(touched),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, RECHECK_WAIT_MS)
    }),
  ])
  clearTimeout(timer)
}
