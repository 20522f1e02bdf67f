import { api, call } from '../api.ts'
import { ActionButton } from './busy.tsx'
import { ConfirmButton } from './confirm.tsx'
import type { Container } from './containers-live.ts'

type Action = 'start' | 'stop' | 'restart'

const STOPPED = new Set(['created', 'exited', 'dead'])

/** Start or stop, restart and remove (after asking) one container; the table hears the outcome. */
export function ContainerActions({
  container,
  changed,
  removed,
}: {
  container: Container
  changed: (container: Container) => void
  removed: (id: string) => void
}) {
  const param = { sid: container.server_id, cid: container.id }
  const run = async (action: Action) => {
    const route = api().servers[':sid'].containers[':cid']
    const answer =
      action === 'start'
        ? await call(route.start.$post({ param }))
        : action === 'stop'
          ? await call(route.stop.$post({ param, json: {} }))
          : await call(route.restart.$post({ param, json: {} }))
    changed(answer.container)
  }
  const remove = async () => {
    await call(api().servers[':sid'].containers[':cid'].$delete({ param, query: { force: 'true' } }))
    removed(container.id)
  }
  const first: Action = STOPPED.has(container.status) ? 'start' : 'stop'
  return (
    <div class="actions">
      <ActionButton
        aria-label={`${first === 'start' ? 'Start' : 'Stop'} ${container.name}`}
        onClick={() => run(first)}
      >
        {first === 'start' ? 'Start' : 'Stop'}
      </ActionButton>
      <ActionButton aria-label={`Restart ${container.name}`} onClick={() => run('restart')}>
        Restart
      </ActionButton>
      <ConfirmButton
        label={`Remove ${container.name}`}
        confirm={`Remove ${container.name} for good`}
        onConfirm={remove}
      >
        Remove
      </ConfirmButton>
    </div>
  )
}
