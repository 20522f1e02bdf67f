import { useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { useSubmit } from './busy.tsx'
import { CopyButton } from './copy.tsx'
import { ErrorNote } from './error.tsx'
import type { Server } from './servers-live.ts'

type Created = Awaited<ReturnType<typeof createServer>>

const createServer = async (name: string) => call(api().servers.$post({ json: { name } }))

const COMMANDS = [
  ['node', 'With Node.js'],
  ['docker', 'As a container'],
  ['systemd', 'As a systemd unit'],
  ['npm', 'From a checkout of Berth'],
] as const

/**
 * Adds a server: its name goes to the API, and the agent commands of the answer are shown with a
 * copy button each (they hold the enrollment token: shown here once, in this page only), with the
 * server's status as the agent connects.
 */
export function AddServer({
  servers,
  onCreated,
  onClose,
}: {
  servers: Server[]
  onCreated: (server: Server) => void
  onClose: () => void
}) {
  const [created, setCreated] = useState<Created | null>(null)
  const form = useSubmit(async (data) => {
    const answer = await createServer(String(data.get('name') ?? '').trim())
    setCreated(answer)
    onCreated(answer.server)
  })
  if (created) {
    const server = servers.find((s) => s.id === created.server.id) ?? created.server
    return (
      <section class="panel" aria-labelledby="enroll-title">
        <h2 id="enroll-title">Start the agent of {server.name}</h2>
        <p>
          Run one of these on the host (the token in them works once, until{' '}
          {new Date(created.enrollment.expires_at).toLocaleString()}).{' '}
          <span role="status">
            Status: <span class={`status ${server.status}`}>{server.status}</span>
          </span>
        </p>
        {COMMANDS.map(([kind, title]) => (
          <div key={kind} class="command">
            <h3>{title}</h3>
            <pre>{created.enrollment.commands[kind]}</pre>
            <CopyButton text={created.enrollment.commands[kind]} label={`Copy the command: ${title}`} />
          </div>
        ))}
        <button type="button" onClick={onClose}>
          Done
        </button>
      </section>
    )
  }
  return (
    <section class="panel" aria-labelledby="add-title">
      <h2 id="add-title">Add a server</h2>
      <form onSubmit={form.onSubmit}>
        <label>
          Name
          <input name="name" required maxLength={64} autoComplete="off" />
        </label>
        <div class="actions">
          <button type="submit" class="primary" disabled={form.busy}>
            Add server
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
        <ErrorNote error={form.error} />
      </form>
    </section>
  )
}
