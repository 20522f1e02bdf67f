import { useState } from 'preact/hooks'
import { api, call } from '../../api.ts'
import { useLoad } from '../../load.ts'
import { canWrite } from '../../session.ts'
import { ErrorNote } from '../../ui/error.tsx'
import { ago } from '../../ui/format.ts'
import { InlineForm } from '../../ui/inline-form.tsx'
import { RemoveButton, Table } from '../../ui/table.tsx'

const MASK = '••••••••'

/**
 * The app's env: keys with their values masked; those allowed reveal the values (held in this
 * component only, gone when the page is left), set a key (new or changed) and remove one.
 */
export function EnvEditor({ appId }: { appId: string }) {
  const [revealed, setRevealed] = useState(false)
  const env = useLoad(
    async () =>
      (
        await call(
          api().apps[':id'].env.$get({ param: { id: appId }, query: revealed ? { reveal: 'true' } : {} }),
        )
      ).env,
    [appId, revealed],
  )
  const write = canWrite()
  const save = async (form: FormData) => {
    const key = String(form.get('key') ?? '').trim()
    const value = String(form.get('value') ?? '')
    await call(api().apps[':id'].env.$put({ param: { id: appId }, json: { env: { [key]: value } } }))
    // The answer is the list as it is stored; read again so it comes masked or revealed as shown.
    await env.reload()
  }
  const remove = async (key: string) => {
    await call(api().apps[':id'].env[':key'].$delete({ param: { id: appId, key } }))
    env.set((list) => list?.filter((e) => e.key !== key))
  }
  return (
    <section class="panel" aria-labelledby="env">
      <h2 id="env">Environment</h2>
      {write && (
        <p class="actions">
          <button type="button" onClick={() => setRevealed(!revealed)} aria-pressed={revealed}>
            {revealed ? 'Hide values' : 'Reveal values'}
          </button>
        </p>
      )}
      <ErrorNote error={env.error} />
      {env.data && (
        <Table columns={['Key', 'Value', 'Changed', write && 'Actions']} empty="No variables.">
          {env.data.map((e) => (
            <tr key={e.key}>
              <td class="mono">{e.key}</td>
              <td class="mono value">
                {e.value ?? (
                  <>
                    <span aria-hidden="true">{MASK}</span>
                    <span class="visually-hidden">hidden</span>
                  </>
                )}
              </td>
              <td>{ago(e.updated_at)}</td>
              {write && (
                <td>
                  <RemoveButton what={e.key} onRemove={() => remove(e.key)} />
                </td>
              )}
            </tr>
          ))}
        </Table>
      )}
      {write && (
        <InlineForm submit="Set variable" onSubmit={save}>
          <label>
            Key
            <input name="key" required pattern="[A-Za-z_][A-Za-z0-9_]*" autocomplete="off" />
          </label>
          <label>
            Value
            <input name="value" type="password" autocomplete="off" />
          </label>
        </InlineForm>
      )}
      <p class="muted">Changes take effect on the next deploy.</p>
    </section>
  )
}
