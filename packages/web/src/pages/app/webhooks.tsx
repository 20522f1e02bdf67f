import { useState } from 'preact/hooks'
import { api, call } from '../../api.ts'
import { useLoad } from '../../load.ts'
import { canWrite } from '../../session.ts'
import { CopyField } from '../../ui/copy.tsx'
import { ErrorNote } from '../../ui/error.tsx'
import { dateTime } from '../../ui/format.ts'
import { InlineForm } from '../../ui/inline-form.tsx'
import { RemoveButton, Table } from '../../ui/table.tsx'

type Provider = 'github' | 'gitlab' | 'gitea'

/**
 * The app's webhooks. A new one's URL and secret are shown once, held in this component only, so
 * leaving the page forgets the secret; each webhook's deliveries open under it.
 */
export function Webhooks({ appId }: { appId: string }) {
  const hooks = useLoad(
    async () => (await call(api().apps[':id'].webhooks.$get({ param: { id: appId } }))).webhooks,
    [appId],
  )
  const [created, setCreated] = useState<{ url: string; secret: string } | null>(null)
  const [open, setOpen] = useState<string | null>(null)
  const write = canWrite()
  const create = async (form: FormData) => {
    const branch = String(form.get('branch') ?? '').trim()
    const { webhook } = await call(
      api().apps[':id'].webhooks.$post({
        param: { id: appId },
        json: { provider: String(form.get('provider')) as Provider, ...(branch ? { branch } : {}) },
      }),
    )
    setCreated({ url: webhook.url, secret: webhook.secret })
    await hooks.reload()
  }
  const remove = async (wid: string) => {
    await call(api().apps[':id'].webhooks[':wid'].$delete({ param: { id: appId, wid } }))
    hooks.set((list) => list?.filter((w) => w.id !== wid))
  }
  return (
    <section class="panel" aria-labelledby="webhooks">
      <h2 id="webhooks">Webhooks</h2>
      <ErrorNote error={hooks.error} />
      {created && (
        <div class="shown-once" role="status">
          <p>Give the provider this URL and secret. The secret is shown only now.</p>
          <CopyField label="Webhook URL" value={created.url} />
          <CopyField label="Webhook secret" value={created.secret} />
          <button type="button" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      {hooks.data?.length === 0 && <p class="muted">No webhooks.</p>}
      <ul class="plain">
        {(hooks.data ?? []).map((w) => (
          <li key={w.id}>
            <div class="actions">
              <strong>{w.provider}</strong>
              <code>{w.url}</code>
              {w.branch && <span class="muted">branch {w.branch}</span>}
              <button
                type="button"
                aria-expanded={open === w.id}
                onClick={() => setOpen(open === w.id ? null : w.id)}
              >
                Deliveries<span class="visually-hidden"> of {w.provider} webhook</span>
              </button>
              {write && <RemoveButton what={`${w.provider} webhook`} onRemove={() => remove(w.id)} />}
            </div>
            {open === w.id && <Deliveries appId={appId} webhookId={w.id} />}
          </li>
        ))}
      </ul>
      {write && (
        <InlineForm submit="Create webhook" onSubmit={create}>
          <label>
            Provider
            <select name="provider">
              <option value="github">GitHub</option>
              <option value="gitlab">GitLab</option>
              <option value="gitea">Gitea</option>
            </select>
          </label>
          <label>
            Branch (optional)
            <input name="branch" autocomplete="off" />
          </label>
        </InlineForm>
      )}
    </section>
  )
}

function Deliveries({ appId, webhookId }: { appId: string; webhookId: string }) {
  const deliveries = useLoad(
    async () =>
      (
        await call(
          api().apps[':id'].webhooks[':wid'].deliveries.$get({
            param: { id: appId, wid: webhookId },
            query: {},
          }),
        )
      ).deliveries,
    [appId, webhookId],
  )
  return (
    <>
      <ErrorNote error={deliveries.error} />
      {deliveries.data && (
        <Table columns={['Received', 'Event', 'Status', 'Deployment']} empty="No deliveries yet.">
          {deliveries.data.map((d) => (
            <tr key={d.id}>
              <td>{dateTime(d.received_at)}</td>
              <td>{d.event}</td>
              <td>
                <span class={`status ${d.status}`}>{d.status}</span>
                {d.reason && <div class="muted">{d.reason}</div>}
              </td>
              <td class="mono">{d.deployment_id ?? '–'}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  )
}
