import { api, call } from '../../api.ts'
import { useLoad } from '../../load.ts'
import { canWrite } from '../../session.ts'
import { ErrorNote } from '../../ui/error.tsx'
import { dateTime } from '../../ui/format.ts'
import { InlineForm } from '../../ui/inline-form.tsx'
import { RemoveButton, Table } from '../../ui/table.tsx'

/** The app's hostnames with their certificates as the server's Caddy reports them. */
export function Domains({ appId }: { appId: string }) {
  const domains = useLoad(
    async () => (await call(api().apps[':id'].domains.$get({ param: { id: appId } }))).domains,
    [appId],
  )
  const write = canWrite()
  const add = async (form: FormData) => {
    const https = String(form.get('https')) as 'auto' | 'internal' | 'off'
    await call(
      api().apps[':id'].domains.$post({
        param: { id: appId },
        json: { hostname: String(form.get('hostname') ?? '').trim(), https },
      }),
    )
    await domains.reload()
  }
  const remove = async (did: string) => {
    await call(api().apps[':id'].domains[':did'].$delete({ param: { id: appId, did } }))
    domains.set((list) => list?.filter((d) => d.id !== did))
  }
  return (
    <section class="panel" aria-labelledby="domains">
      <h2 id="domains">Domains</h2>
      <ErrorNote error={domains.error} />
      {domains.data && (
        <Table columns={['Hostname', 'HTTPS', 'Certificate', write && 'Actions']} empty="No domains.">
          {domains.data.map((d) => (
            <tr key={d.id}>
              <td>
                <a href={`${d.https === 'off' ? 'http' : 'https'}://${d.hostname}/`} rel="noreferrer">
                  {d.hostname}
                </a>
                {d.automatic && <span class="badge">automatic</span>}
                {d.redirect_to && <div class="muted">redirects to {d.redirect_to}</div>}
              </td>
              <td>{d.https}</td>
              <td>
                {d.certificate ? (
                  <>
                    <span class={`status ${d.certificate.status}`}>{d.certificate.status}</span>
                    {d.certificate.expires_at && (
                      <div class="muted">expires {dateTime(d.certificate.expires_at)}</div>
                    )}
                    {d.certificate.reason && <div class="error">{d.certificate.reason}</div>}
                  </>
                ) : (
                  <span class="muted">none</span>
                )}
              </td>
              {write && (
                <td>{!d.automatic && <RemoveButton what={d.hostname} onRemove={() => remove(d.id)} />}</td>
              )}
            </tr>
          ))}
        </Table>
      )}
      {write && (
        <InlineForm submit="Add domain" onSubmit={add}>
          <label>
            Hostname
            <input name="hostname" required placeholder="app.example.com" autocomplete="off" />
          </label>
          <label>
            HTTPS
            <select name="https">
              <option value="auto">auto (ACME)</option>
              <option value="internal">internal (Caddy's own CA)</option>
              <option value="off">off</option>
            </select>
          </label>
        </InlineForm>
      )}
    </section>
  )
}
