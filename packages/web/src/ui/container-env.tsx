import { useEffect, useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { ActionButton } from './busy.tsx'

// A container's environment as the API shows it: values of keys that look secret masked. Reveal
// asks the API again with reveal=true (write access only; anyone else sees its 403); what it
// shows stays in this component and is gone when the page is left or Hide is pressed.

interface Props {
  serverId: string
  containerId: string
  env: Record<string, string>
}

export function ContainerEnv({ serverId, containerId, env }: Props) {
  const [revealed, setRevealed] = useState<Record<string, string> | null>(null)
  useEffect(() => setRevealed(null), [serverId, containerId])
  const reveal = async () => {
    const body = await call(
      api().servers[':sid'].containers[':cid'].$get({
        param: { sid: serverId, cid: containerId },
        query: { reveal: 'true' },
      }),
    )
    setRevealed('env' in body.container ? body.container.env : {})
  }
  const shown = revealed ?? env
  const keys = Object.keys(shown).sort()
  return (
    <section aria-labelledby="env-heading">
      <h2 id="env-heading">Environment</h2>
      <div class="actions">
        {revealed ? (
          <button type="button" onClick={() => setRevealed(null)}>
            Hide values
          </button>
        ) : (
          <ActionButton onClick={reveal}>Reveal values</ActionButton>
        )}
      </div>
      {keys.length === 0 ? (
        <p class="muted">No environment variables.</p>
      ) : (
        <div class="table-wrap">
          <table class="env">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key}>
                  <td class="mono">{key}</td>
                  <td class="mono">{shown[key]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}
