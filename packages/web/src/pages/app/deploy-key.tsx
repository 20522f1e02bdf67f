import { api, BerthError, call } from '../../api.ts'
import { useLoad } from '../../load.ts'
import { canWrite } from '../../session.ts'
import { ActionButton } from '../../ui/busy.tsx'
import { CopyButton } from '../../ui/copy.tsx'
import { ErrorNote } from '../../ui/error.tsx'
import { dateTime } from '../../ui/format.ts'

/** The public half of the app's ssh key for cloning, and making a new pair (which replaces it). */
export function DeployKey({ appId }: { appId: string }) {
  const key = useLoad(async () => {
    try {
      return (await call(api().apps[':id']['deploy-key'].$get({ param: { id: appId } }))).deploy_key
    } catch (err) {
      // No key made yet: not an error to show, the button makes one.
      if (err instanceof BerthError && err.status === 404) return null
      throw err
    }
  }, [appId])
  const rotate = async () => {
    const { deploy_key } = await call(api().apps[':id']['deploy-key'].$post({ param: { id: appId } }))
    key.set(() => deploy_key)
  }
  return (
    <section class="panel" aria-labelledby="deploy-key">
      <h2 id="deploy-key">Deploy key</h2>
      <ErrorNote error={key.error} />
      {key.data === null && (
        <p class="muted">No deploy key. Make one to clone a private repository over ssh.</p>
      )}
      {key.data && (
        <>
          <pre class="wrap">{key.data.public_key}</pre>
          <p class="actions">
            <CopyButton text={key.data.public_key} label="Copy public key" />
            <span class="muted">made {dateTime(key.data.created_at)}</span>
          </p>
        </>
      )}
      {canWrite() && key.data !== undefined && (
        <ActionButton onClick={rotate}>{key.data ? 'Rotate key' : 'Make a key'}</ActionButton>
      )}
    </section>
  )
}
