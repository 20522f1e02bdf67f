import { api, call } from '../../api.ts'
import { canWrite } from '../../session.ts'
import { ActionButton } from '../../ui/busy.tsx'
import { dateTime } from '../../ui/format.ts'
import { Table } from '../../ui/table.tsx'
import { type Deployment, inProgress } from './types.ts'

// Deployments whose image once served, so a rollback can run it again.
const RAN = ['running', 'superseded']

/**
 * The app's deployments, newest first: the one being watched is chosen here, a running one can be
 * cancelled, and an earlier one that ran can be deployed again (a rollback, with no build).
 */
export function History({
  appId,
  deployments,
  currentId,
  onQueued,
  onWatch,
}: {
  appId: string
  deployments: Deployment[]
  currentId: string | null
  onQueued: (deployment: Deployment) => void
  onWatch: (id: string) => void
}) {
  const rollback = async (to: string) => {
    const { deployment } = await call(
      api().apps[':id'].rollback.$post({ param: { id: appId }, json: { deployment_id: to } }),
    )
    onQueued(deployment)
  }
  const cancel = async (id: string) => {
    const { deployment } = await call(api().deployments[':id'].cancel.$post({ param: { id } }))
    onQueued(deployment)
  }
  return (
    <section class="panel" aria-labelledby="history">
      <h2 id="history">Deployments</h2>
      <Table
        columns={['Deployment', 'State', 'Trigger', 'Commit', 'Created', 'Actions']}
        empty="Not deployed yet."
      >
        {deployments.map((d) => (
          <tr key={d.id}>
            <td class="mono">
              {d.id}
              {d.id === currentId && <span class="badge">current</span>}
            </td>
            <td>
              <span class={`status ${d.state}`}>{d.state}</span>
              {d.reason && <div class="muted">{d.reason}</div>}
            </td>
            <td>
              {d.trigger}
              {d.rollback_of && <div class="muted mono">of {d.rollback_of}</div>}
            </td>
            <td class="mono">{d.commit ? `${d.commit.sha.slice(0, 8)} ${d.commit.message}` : '–'}</td>
            <td>{dateTime(d.created_at)}</td>
            <td>
              <div class="actions">
                <button type="button" class="link" onClick={() => onWatch(d.id)}>
                  Log<span class="visually-hidden"> of {d.id}</span>
                </button>
                {canWrite() && inProgress(d.state) && (
                  <ActionButton class="danger" onClick={() => cancel(d.id)} aria-label={`Cancel ${d.id}`}>
                    Cancel
                  </ActionButton>
                )}
                {canWrite() && d.image && d.id !== currentId && RAN.includes(d.state) && (
                  <ActionButton onClick={() => rollback(d.id)} aria-label={`Roll back to ${d.id}`}>
                    Roll back
                  </ActionButton>
                )}
              </div>
            </td>
          </tr>
        ))}
      </Table>
    </section>
  )
}
