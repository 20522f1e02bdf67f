import { ApiError } from '../errors.ts'
import type { AgentStream } from './hub.ts'
import { ChunkQueue } from './stream.ts'

/**
 * Streams opened once on the host and read by many (a container's followed log): each reader
 * gets its own queue of what arrives after it joined; the stream on the host stops when the last
 * reader leaves. A reader that takes nothing for `stallMs` while output waits is cut off alone.
 */
export class SharedStreams {
  private readonly groups = new Map<string, { readers: Set<ChunkQueue>; upstream: AgentStream }>()

  join(key: string, open: () => AgentStream, stallMs: number): AgentStream {
    let group = this.groups.get(key)
    if (!group) {
      group = { readers: new Set(), upstream: open() }
      this.groups.set(key, group)
      void this.pump(key, group)
    }
    const joined = group
    const reader: ChunkQueue = new ChunkQueue(() => this.leave(key, joined, reader), undefined, { stallMs })
    joined.readers.add(reader)
    return reader
  }

  /** Streams running on the host for readers here. */
  get size(): number {
    return this.groups.size
  }

  /** Readers of the stream under `key`. */
  readers(key: string): number {
    return this.groups.get(key)?.readers.size ?? 0
  }

  private leave(key: string, group: { readers: Set<ChunkQueue>; upstream: AgentStream }, reader: ChunkQueue) {
    group.readers.delete(reader)
    if (group.readers.size > 0) return
    if (this.groups.get(key) === group) this.groups.delete(key)
    group.upstream.cancel()
  }

  private async pump(key: string, group: { readers: Set<ChunkQueue>; upstream: AgentStream }) {
    let failure: ApiError | undefined
    try {
      for await (const chunk of group.upstream) for (const reader of group.readers) reader.push(chunk)
    } catch (err) {
      failure = err instanceof ApiError ? err : new ApiError('agent_error', 'the stream on the host failed')
    }
    if (this.groups.get(key) === group) this.groups.delete(key)
    for (const reader of group.readers) reader.end(group.upstream.exitCode, failure)
  }
}
