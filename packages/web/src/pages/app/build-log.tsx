import { useEffect, useRef, useState } from 'preact/hooks'
import { type LiveError, subscribe } from '../../live.ts'
import { ErrorNote } from '../../ui/error.tsx'
import { type Deployment, inProgress } from './types.ts'

type State = Deployment['state']

interface Line {
  seq: number
  stream: string
  text: string
}

const STAGES = ['queued', 'cloning', 'building', 'deploying', 'running'] as const
// The API keeps a deployment's first 10,000 lines; the page keeps no more.
const MAX_LINES = 10_000

/** Where a stage stands against the deployment's state: done, the current one, or still ahead. */
function stageMark(stage: string, state: string): 'done' | 'current' | 'ahead' {
  const at = STAGES.indexOf(state as (typeof STAGES)[number])
  const index = STAGES.indexOf(stage as (typeof STAGES)[number])
  if (at === -1) return 'ahead'
  if (index < at || (stage === 'running' && state === 'running')) return 'done'
  return index === at ? 'current' : 'ahead'
}

/**
 * The build log of one deployment as it is written, with its stages, over the page's live socket
 * (`deployment:<id>` replays the lines from the first, so a reconnect repeats them: kept by seq).
 */
export function BuildLog({
  id,
  initialState,
  onState,
}: {
  id: string
  initialState: State
  onState: (state: State, reason: string | null) => void
}) {
  const [lines, setLines] = useState<Line[]>([])
  const [state, setState] = useState<State>(initialState)
  const [reason, setReason] = useState<string | null>(null)
  const [error, setError] = useState<LiveError | undefined>(undefined)
  const seen = useRef(-1)
  const box = useRef<HTMLElement>(null)
  const report = useRef(onState)
  report.current = onState
  useEffect(() => {
    setLines([])
    seen.current = -1
    return subscribe(
      `deployment:${id}`,
      (event, data) => {
        if (event === 'log') {
          const line = data as Line
          if (line.seq <= seen.current) return
          seen.current = line.seq
          setLines((all) => (all.length >= MAX_LINES ? all : [...all, line]))
        } else if (event === 'state') {
          const next = data as { state: State; reason: string | null }
          setState(next.state)
          setReason(next.reason)
          report.current(next.state, next.reason)
        }
      },
      setError,
    )
  }, [id])
  useEffect(() => {
    const el = box.current
    if (el) el.scrollTop = el.scrollHeight
  }, [lines.length])
  const stopped = state === 'failed' || state === 'cancelled' || state === 'superseded'
  return (
    <section class="panel" aria-labelledby="build-log">
      <h2 id="build-log">
        Build log <span class="mono muted">{id}</span>
      </h2>
      <ol class="stages" aria-label="Stages">
        {STAGES.map((stage) => {
          const mark = stageMark(stage, state)
          return (
            <li key={stage} class={mark} aria-current={mark === 'current' ? 'step' : undefined}>
              {stage}
            </li>
          )
        })}
        {stopped && <li class="current stopped">{state}</li>}
      </ol>
      <p>
        State:{' '}
        <span class={`status ${state}`} data-testid="deployment-state">
          {state}
        </span>
        {inProgress(state) && <span class="muted"> (live)</span>}
        {reason && <span class="error"> {reason}</span>}
      </p>
      {error && (
        <ErrorNote error={new Error(`${error.message} (${error.code}, request ${error.request_id})`)} />
      )}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolled region must take the keyboard to scroll */}
      <section ref={box} class="log" tabIndex={0} aria-label="Build output">
        <pre>
          {lines.map((line) => (
            <span key={line.seq} class={line.stream}>
              {line.text}
              {'\n'}
            </span>
          ))}
        </pre>
      </section>
    </section>
  )
}
