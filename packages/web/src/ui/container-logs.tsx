import { BerthError, follow } from '@berth/client'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { client } from '../api.ts'
import { ErrorNote } from './error.tsx'
import { FrameBatcher, LogBuffer } from './log-buffer.ts'
import { LogView } from './log-view.tsx'

// A container's log, live: the recent lines and then each new one, from the logs SSE follow. One
// request gives both with no gap or repeat between them (Docker's own tail-then-follow), and the
// stream's flow control reaches the agent, so a flood slows the stream instead of the page's one
// socket that carries every other live update.

const KEEP = 10_000
const TAIL = 500
/** Failures that pass (the agent reconnecting, the network): the follow starts again by itself. */
const PASSING = new Set(['agent_offline', 'connection_lost', 'unreachable', 'timeout'])
const RETRY_MS = 2_000

export function ContainerLogs({ serverId, containerId }: { serverId: string; containerId: string }) {
  const buffer = useMemo(() => new LogBuffer(KEEP), [serverId, containerId])
  const batcher = useRef<FrameBatcher | null>(null)
  const [version, setVersion] = useState(0)
  const [attempt, setAttempt] = useState(0)
  const [ended, setEnded] = useState<string | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [paused, setPaused] = useState(false)
  const [query, setQuery] = useState('')

  useEffect(() => {
    buffer.clear()
    setEnded(undefined)
    setError(undefined)
    const batch = new FrameBatcher(KEEP, (lines) => {
      for (const [stream, text] of lines) buffer.push(stream, text)
      setVersion((v) => v + 1)
    })
    batcher.current = batch
    const controller = new AbortController()
    let retry: ReturnType<typeof setTimeout> | undefined
    const path = `/servers/${encodeURIComponent(serverId)}/containers/${encodeURIComponent(containerId)}/logs`
    void (async () => {
      try {
        const events = follow(client.value, path, {
          query: { follow: true, tail: TAIL },
          signal: controller.signal,
        })
        for await (const event of events) {
          if (event.event === 'stdout' || event.event === 'stderr')
            batch.add(event.event, (JSON.parse(event.data) as { line: string }).line)
        }
        if (!controller.signal.aborted) setEnded('The container stopped; its log ends here.')
      } catch (err) {
        if (controller.signal.aborted) return
        setError(err)
        if (err instanceof BerthError && PASSING.has(err.code))
          retry = setTimeout(() => setAttempt((n) => n + 1), RETRY_MS)
      }
    })()
    return () => {
      clearTimeout(retry)
      controller.abort()
      batch.stop()
    }
  }, [buffer, attempt])

  useEffect(() => {
    const batch = batcher.current
    if (!batch) return
    if (paused) batch.held = true
    else batch.release()
  }, [paused, attempt])

  // `version` says when the buffer changed.
  const shown = useMemo(() => (query ? buffer.matching(query) : null), [buffer, version, query])
  const count = shown ? shown.length : buffer.size
  return (
    <section aria-labelledby="logs-heading">
      <h2 id="logs-heading">Logs</h2>
      <div class="actions log-controls">
        <label class="inline">
          Search the log
          <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <span class="muted">
          {buffer.total} lines received{query ? `, ${count} matching` : ''}
          {paused ? ' · paused' : ''}
        </span>
      </div>
      <LogView
        count={count}
        line={(i) => buffer.at(shown ? (shown[i] as number) : i)}
        query={query}
        version={version}
        label="Log lines"
      />
      <ErrorNote error={error} />
      {(ended || error !== undefined) && (
        <p class="muted">
          {ended}{' '}
          <button type="button" class="link" onClick={() => setAttempt((n) => n + 1)}>
            Follow again
          </button>
        </p>
      )}
    </section>
  )
}
