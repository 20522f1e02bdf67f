import { useEffect, useRef, useState } from 'preact/hooks'
import { client } from '../api.ts'
import { canWrite } from '../session.ts'
import { ErrorNote } from './error.tsx'
import type { TerminalSession } from './xterm.ts'

// A shell in the container (members and admins). xterm.js is imported when the terminal is
// opened, so the page costs nothing of it until then.

type State = 'closed' | 'opening' | 'open' | 'exited'

export function ContainerTerminal({ serverId, containerId }: { serverId: string; containerId: string }) {
  const ref = useRef<HTMLElement>(null)
  const session = useRef<TerminalSession | null>(null)
  const [state, setState] = useState<State>('closed')
  const [code, setCode] = useState<number | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const end = () => {
    session.current?.dispose()
    session.current = null
  }
  useEffect(() => end, [serverId, containerId])

  const open = async () => {
    end()
    setError(undefined)
    setCode(undefined)
    setState('opening')
    const path = `/servers/${encodeURIComponent(serverId)}/containers/${encodeURIComponent(containerId)}/exec`
    try {
      const { startTerminal } = await import('./xterm.ts')
      const started = await startTerminal(ref.current as HTMLElement, client.value, path)
      session.current = started
      setState('open')
      started.exit.then(
        (exitCode) => {
          setCode(exitCode)
          setState('exited')
        },
        (err: unknown) => {
          setError(err)
          setState('exited')
        },
      )
    } catch (err) {
      setError(err)
      setState('closed')
    }
  }
  const close = () => {
    end()
    setState('closed')
  }

  return (
    <section aria-labelledby="terminal-heading">
      <h2 id="terminal-heading">Terminal</h2>
      {!canWrite() ? (
        <p class="muted">A terminal needs member or admin access.</p>
      ) : (
        <div class="actions">
          {state === 'open' ? (
            <button type="button" onClick={close}>
              Close terminal
            </button>
          ) : (
            <button
              type="button"
              onClick={open}
              disabled={state === 'opening'}
              aria-busy={state === 'opening'}
            >
              {state === 'exited' ? 'Open a new terminal' : 'Open terminal'}
            </button>
          )}
          {code !== undefined && <span role="status">The process exited with code {code}.</span>}
        </div>
      )}
      <ErrorNote error={error} />
      <section ref={ref} class="terminal" aria-label="Terminal" hidden={state === 'closed'} />
    </section>
  )
}
