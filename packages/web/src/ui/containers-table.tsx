import { useEffect, useMemo, useState } from 'preact/hooks'
import { upsert, useLoad } from '../load.ts'
import { Link } from '../router.tsx'
import { canWrite } from '../session.ts'
import { ContainerActions } from './container-actions.tsx'
import { type Container, useContainers } from './containers-live.ts'
import { ErrorNote } from './error.tsx'
import { dateTime } from './format.ts'
import { listServers } from './servers-live.ts'

// The containers table: every server's (or one server's) containers, sorted and filtered in the
// page, a page of rows at a time so thousands of containers render in a blink.

type Column = 'name' | 'server' | 'image' | 'status' | 'created'
const PAGE = 100
// One collator for every comparison: far cheaper than a localeCompare per pair on thousands of rows.
const collator = new Intl.Collator(undefined, { numeric: true })
const STATUSES = ['running', 'paused', 'restarting', 'created', 'exited', 'dead', 'removing']

/** Whether a container has the tag, or the label `key` or `key=value`. */
function tagged(container: Container, wanted: string): boolean {
  if (!wanted) return true
  if (container.tags.includes(wanted)) return true
  const [key, value] = wanted.split('=', 2) as [string, string | undefined]
  const label = container.labels[key]
  return label !== undefined && (value === undefined || label === value)
}

export function ContainersTable({ serverId }: { serverId?: string }) {
  const containers = useContainers(serverId)
  // The server column names servers: one list of them, only where it shows.
  const servers = useLoad(async () => (serverId ? [] : listServers()), [serverId])
  const names = useMemo(() => new Map((servers.data ?? []).map((s) => [s.id, s.name])), [servers.data])
  const [sort, setSort] = useState<{ by: Column; up: boolean }>({ by: 'name', up: true })
  const [status, setStatus] = useState('')
  const [name, setName] = useState('')
  const [tag, setTag] = useState('')
  const [page, setPage] = useState(0)
  const key = (c: Container): string =>
    sort.by === 'server'
      ? (names.get(c.server_id) ?? c.server_id)
      : sort.by === 'created'
        ? c.created_at
        : c[sort.by]
  const shown = useMemo(() => {
    const needle = name.trim().toLowerCase()
    const rows = (containers.data ?? []).filter(
      (c) =>
        (!status || c.status === status) &&
        (!needle || c.name.toLowerCase().includes(needle)) &&
        tagged(c, tag.trim()),
    )
    const direction = sort.up ? 1 : -1
    return rows.sort((a, b) => direction * collator.compare(key(a), key(b)))
  }, [containers.data, names, sort, status, name, tag])
  const ready = containers.data !== undefined
  useEffect(() => {
    // For whoever times the page (the benchmark): the first rows are on screen.
    if (ready) performance.mark('berth:containers-table')
  }, [ready])
  const pages = Math.max(1, Math.ceil(shown.length / PAGE))
  const at = Math.min(page, pages - 1)
  const header = (column: Column, title: string) => (
    <th scope="col" aria-sort={sort.by === column ? (sort.up ? 'ascending' : 'descending') : undefined}>
      <button type="button" onClick={() => setSort({ by: column, up: sort.by === column ? !sort.up : true })}>
        {title}
        {sort.by === column ? (sort.up ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
  )
  const filter = (set: (value: string) => void) => (event: Event) => {
    set((event.currentTarget as HTMLInputElement).value)
    setPage(0)
  }
  const changed = (c: Container) => containers.set((list) => upsert(list, c))
  const removed = (id: string) => containers.set((list) => list?.filter((c) => c.id !== id))
  return (
    <>
      <div class="filters">
        <label>
          Status
          <select value={status} onChange={filter(setStatus)}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Name
          <input type="search" value={name} onInput={filter(setName)} />
        </label>
        <label>
          Tag or label
          <input type="search" value={tag} placeholder="web or team=a" onInput={filter(setTag)} />
        </label>
      </div>
      <ErrorNote error={containers.error} />
      <ErrorNote error={containers.liveError} />
      <ErrorNote error={servers.error} />
      <p class="muted" role="status">
        {containers.loading && !containers.data
          ? 'Loading containers…'
          : `${shown.length} of ${containers.data?.length ?? 0} containers`}
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              {header('name', 'Name')}
              {!serverId && header('server', 'Server')}
              {header('image', 'Image')}
              {header('status', 'Status')}
              {header('created', 'Created')}
              {canWrite() && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {shown.slice(at * PAGE, (at + 1) * PAGE).map((c) => (
              <tr key={c.id}>
                <td>
                  <Link href={`/servers/${c.server_id}/containers/${c.id}`}>{c.name}</Link>
                  {c.tags.length > 0 && <span class="muted tags"> {c.tags.join(', ')}</span>}
                </td>
                {!serverId && (
                  <td>
                    <Link href={`/servers/${c.server_id}`}>{names.get(c.server_id) ?? c.server_id}</Link>
                  </td>
                )}
                <td class="mono">{c.image}</td>
                <td>
                  <span class={`status ${c.status}`}>{c.status}</span>
                </td>
                <td>{dateTime(c.created_at)}</td>
                {canWrite() && (
                  <td>
                    <ContainerActions container={c} changed={changed} removed={removed} />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pages > 1 && (
        <nav class="actions pager" aria-label="Pages of containers">
          <button type="button" disabled={at === 0} onClick={() => setPage(at - 1)}>
            Previous
          </button>
          <span>
            Page {at + 1} of {pages}
          </span>
          <button type="button" disabled={at >= pages - 1} onClick={() => setPage(at + 1)}>
            Next
          </button>
        </nav>
      )}
    </>
  )
}
