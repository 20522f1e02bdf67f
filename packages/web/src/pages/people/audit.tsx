import { useEffect, useState } from 'preact/hooks'
import { api, call } from '../../api.ts'
import { subscribe } from '../../live.ts'
import { Link, navigate, path, queryParam } from '../../router.tsx'
import { ErrorNote } from '../../ui/error.tsx'
import { dateTime } from '../../ui/format.ts'

interface Entry {
  id: string
  at: string
  actor: { type: string; id: string | null }
  action: string
  target: string | null
  status: number
  duration_ms: number
  request_id: string
  ip: string | null
}

interface Filter {
  actor?: string
  action?: string
  failed?: 'true' | 'false'
}

const PAGE = 50

/** The filter in the page's URL, so a filtered view can be reloaded and shared. */
function filterOf(): Filter {
  const failed = queryParam('failed')
  return {
    actor: queryParam('actor') || undefined,
    action: queryParam('action') || undefined,
    failed: failed === 'true' || failed === 'false' ? failed : undefined,
  }
}

const matches = (f: Filter, e: Entry) =>
  (!f.actor || e.actor.id === f.actor) &&
  (!f.action || e.action.toLowerCase().includes(f.action.toLowerCase())) &&
  (f.failed === undefined || (f.failed === 'true') === e.status >= 400)

/** Every mutating request, newest first, filtered and paged; new entries arrive live. */
export default function Audit() {
  const filter = filterOf()
  const key = path.value
  const [entries, setEntries] = useState<Entry[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(undefined)
  const [loading, setLoading] = useState(false)

  const load = async (after: string | null) => {
    setLoading(true)
    try {
      const page = await call(
        api().audit.$get({ query: { ...filter, limit: String(PAGE), cursor: after ?? undefined } }),
      )
      setEntries((old) => (after ? [...old, ...(page.entries as Entry[])] : (page.entries as Entry[])))
      setCursor(page.next_cursor)
      setError(undefined)
    } catch (err) {
      setError(err)
    } finally {
      setLoading(false)
    }
  }

  useEffect(() => {
    void load(null)
    return subscribe('audit', (event, data) => {
      const entry = data as Entry
      if (event === 'entry' && matches(filter, entry)) setEntries((old) => [entry, ...old])
    })
  }, [key])

  const apply = (event: SubmitEvent) => {
    event.preventDefault()
    const form = new FormData(event.currentTarget as HTMLFormElement)
    const params = new URLSearchParams()
    for (const name of ['actor', 'action', 'failed']) {
      const value = String(form.get(name) ?? '').trim()
      if (value) params.set(name, value)
    }
    navigate(`/audit${params.size ? `?${params}` : ''}`)
  }

  return (
    <>
      <h1>Audit log</h1>
      <form class="filters" onSubmit={apply} aria-label="Filter the audit log">
        <label>
          Action contains
          <input name="action" defaultValue={filter.action} placeholder="DELETE, /servers" />
        </label>
        <label>
          Actor id
          <input name="actor" defaultValue={filter.actor} />
        </label>
        <label>
          Outcome
          <select name="failed" defaultValue={filter.failed ?? ''}>
            <option value="">any</option>
            <option value="false">succeeded</option>
            <option value="true">refused or failed</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={error} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Audit log entries</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Status</th>
              <th scope="col">Request</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id}>
                <td>{dateTime(e.at)}</td>
                <td>
                  {e.actor.type}
                  {e.actor.id && (
                    <>
                      {' '}
                      <Link href={`/audit?actor=${encodeURIComponent(e.actor.id)}`} class="mono">
                        {e.actor.id}
                      </Link>
                    </>
                  )}
                </td>
                <td class="mono">{e.action}</td>
                <td class="mono">{e.target ?? '–'}</td>
                <td class={e.status >= 400 ? 'status failed' : undefined}>{e.status}</td>
                <td class="mono">{e.request_id}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!loading && entries.length === 0 && !error && <p class="muted">No entries match.</p>}
      {cursor && (
        <button type="button" onClick={() => load(cursor)} disabled={loading}>
          Older entries
        </button>
      )}
    </>
  )
}
