import type { logsQuery } from '@berth/shared'
import type { z } from 'zod'
import type { ActorContext } from '../context.ts'
import type { ApiError } from '../errors.ts'
import type { StreamChunk } from '../hub/hub.ts'
import { findContainer } from './containers.ts'

type LogsQuery = z.infer<typeof logsQuery>
export type LogEntry = ReturnType<typeof logEntry>

/**
 * A container's log as batches of entries as its host sends them (one batch per chunk, whatever
 * the number of lines in it), until the container stops. `shared` joins the one stream the host
 * already runs for the container. Opened before it is iterated, so an offline server or an
 * unknown container is a plain error; `stop(why)` ends it, throwing `why` when given.
 */
export async function followContainerLogs(
  ctx: ActorContext,
  input: { serverId: string; ref: string; query: LogsQuery; shared?: boolean },
): Promise<AsyncIterable<LogEntry[]> & { stop(why?: ApiError): void }> {
  const { query } = input
  const row = await findContainer(ctx, input)
  const logs = await ctx.hub.open(
    input.serverId,
    'container.logs',
    {
      ref: row.dockerId,
      tail: query.tail,
      since: query.since,
      timestamps: query.timestamps,
      follow: query.follow,
    },
    input.shared ? { shared: true } : undefined,
  )
  let refusal: ApiError | null = null
  return {
    stop(why) {
      refusal ??= why ?? null
      logs.cancel()
    },
    async *[Symbol.asyncIterator]() {
      try {
        const splitter = lineSplitter()
        try {
          for await (const chunk of logs) {
            if (refusal) break
            const batch = splitter.push(chunk).map((l) => logEntry(l, query.timestamps))
            if (batch.length > 0) yield batch
          }
        } catch (err) {
          // Stopped underneath with a reason: that is the one to give.
          if (!refusal) throw err
        }
        if (refusal) throw refusal
        const rest = splitter.flush().map((l) => logEntry(l, query.timestamps))
        if (rest.length > 0) yield rest
      } finally {
        logs.cancel()
      }
    },
  }
}

/** A container's log up to now, as one list. */
export async function containerLogs(
  ctx: ActorContext,
  input: { serverId: string; ref: string; query: LogsQuery },
) {
  const logs = await followContainerLogs(ctx, { ...input, query: { ...input.query, follow: false } })
  const entries: LogEntry[] = []
  for await (const batch of logs) entries.push(...batch)
  return entries
}

/** Splits chunks into whole lines per stream, keeping a partial line until its end arrives. */
function lineSplitter() {
  const partial: Record<string, string> = {}
  const decoder = new TextDecoder()
  return {
    push(chunk: StreamChunk): { stream: string; line: string }[] {
      const text =
        chunk.encoding === 'base64'
          ? decoder.decode(Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0)))
          : chunk.data
      const parts = ((partial[chunk.stream] ?? '') + text).split('\n')
      partial[chunk.stream] = parts.pop() ?? ''
      return parts.map((line) => ({ stream: chunk.stream, line }))
    },
    flush(): { stream: string; line: string }[] {
      const rest = Object.entries(partial)
        .filter(([, line]) => line.length > 0)
        .map(([stream, line]) => ({ stream, line }))
      for (const key of Object.keys(partial)) delete partial[key]
      return rest
    },
  }
}

/** A log line as the API shows it; with timestamps, Docker's RFC 3339 prefix becomes `ts`. */
function logEntry(entry: { stream: string; line: string }, timestamps: boolean) {
  if (!timestamps) return { stream: entry.stream, line: entry.line }
  const space = entry.line.indexOf(' ')
  return { stream: entry.stream, ts: entry.line.slice(0, space), line: entry.line.slice(space + 1) }
}
