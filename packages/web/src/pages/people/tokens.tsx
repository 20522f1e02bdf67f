import { useState } from 'preact/hooks'
import { api, call } from '../../api.ts'
import { useLoad } from '../../load.ts'
import { isAdmin } from '../../session.ts'
import { ActionButton, useSubmit } from '../../ui/busy.tsx'
import { CopyField } from '../../ui/copy.tsx'
import { ErrorNote } from '../../ui/error.tsx'
import { ago, dateTime } from '../../ui/format.ts'
import { listServers, type Server } from '../../ui/servers-live.ts'
import { Table } from '../../ui/table.tsx'

type Level = 'read' | 'write' | 'admin'

const listTokens = async () => (await call(api().tokens.$get({ query: {} }))).tokens
// Only an admin may grant docker, so only an admin is asked for the servers it opens.
const dockerCandidates = async () => (isAdmin() ? listServers() : [])

/** The servers a docker token opens, by name where the server still exists. */
const serverNames = (ids: string[], servers: Server[] | undefined) =>
  ids.map((id) => servers?.find((s) => s.id === id)?.name ?? id).join(', ')

/** Your API tokens: make one (its value shown here once), see when each was used, revoke. */
export default function Tokens() {
  const tokens = useLoad(listTokens, [])
  const servers = useLoad(dockerCandidates, [])
  const [made, setMade] = useState<{ name: string; value: string } | null>(null)
  const [docker, setDocker] = useState(false)
  const create = useSubmit(async (form) => {
    const levels = (['read', 'write', 'admin'] as const).filter((s) => form.get(`scope-${s}`))
    const scopes = [...levels, ...(docker ? (['docker'] as const) : [])]
    const dockerServers = form.getAll('docker-server').map(String)
    const days = Number(form.get('days'))
    const { token } = await call(
      api().tokens.$post({
        json: {
          name: String(form.get('name')),
          scopes: scopes.length > 0 ? scopes : ['read'],
          ...(docker ? { docker_servers: dockerServers } : {}),
          ...(days > 0 ? { expires_in_days: days } : {}),
        },
      }),
    )
    setMade({ name: token.name, value: token.value })
    ;(document.getElementById('token-form') as HTMLFormElement | null)?.reset()
    setDocker(false)
    await tokens.reload()
  })
  const revoke = async (id: string) => {
    await call(api().tokens[':id'].$delete({ param: { id } }))
    setMade(null)
    await tokens.reload()
  }
  return (
    <>
      <h1>API tokens</h1>
      <p class="muted">
        For scripts and CI: send one as <code>Authorization: Bearer …</code> or set <code>BERTH_TOKEN</code>{' '}
        for the CLI. A token acts at the lower of your role and its scope.
      </p>
      {made && (
        <section class="panel" aria-labelledby="made-heading">
          <h2 id="made-heading">Token {made.name} created</h2>
          <p>Copy it now: it is not shown again.</p>
          <CopyField label="Token value" value={made.value} />
        </section>
      )}
      <form id="token-form" class="panel" onSubmit={create.onSubmit} aria-label="New token">
        <h2>New token</h2>
        <label>
          Name
          <input name="name" required maxLength={100} />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {(['read', 'write', 'admin'] as Level[]).map((scope) =>
            scope === 'admin' && !isAdmin() ? null : (
              <label key={scope} class="inline">
                <input type="checkbox" name={`scope-${scope}`} defaultChecked={scope === 'read'} /> {scope}
              </label>
            ),
          )}
          {isAdmin() && (
            <label class="inline">
              <input
                type="checkbox"
                name="scope-docker"
                checked={docker}
                onChange={(e) => setDocker(e.currentTarget.checked)}
              />{' '}
              docker
            </label>
          )}
        </fieldset>
        {docker && (
          <fieldset>
            <legend>Servers it opens Docker on</legend>
            <p class="muted">
              Docker's API is root on its host; the token opens it only while you are an admin.
            </p>
            {(servers.data ?? []).map((server) => (
              <label key={server.id} class="inline">
                <input type="checkbox" name="docker-server" value={server.id} /> {server.name}
              </label>
            ))}
            <ErrorNote error={servers.error} />
          </fieldset>
        )}
        <label>
          Expires after (days, empty for never)
          <input name="days" type="number" min={1} max={3650} />
        </label>
        <button type="submit" class="primary" disabled={create.busy}>
          Create token
        </button>
        <ErrorNote error={create.error} />
      </form>
      <ErrorNote error={tokens.error} />
      <Table
        caption="Your tokens"
        columns={['Name', 'Scopes', 'Docker on', 'Prefix', 'Last used', 'Expires', 'Actions']}
        empty="No tokens yet."
      >
        {(tokens.data ?? []).map((token) => (
          <tr key={token.id}>
            <td>{token.name}</td>
            <td>{token.scopes.join(', ')}</td>
            <td>{token.docker_servers.length > 0 ? serverNames(token.docker_servers, servers.data) : '—'}</td>
            <td>
              <code>{token.prefix}</code>
            </td>
            <td>{ago(token.last_used_at)}</td>
            <td>{token.expires_at ? dateTime(token.expires_at) : 'never'}</td>
            <td>
              <ActionButton
                class="danger"
                aria-label={`Revoke ${token.name}`}
                onClick={() => revoke(token.id)}
              >
                Revoke
              </ActionButton>
            </td>
          </tr>
        ))}
      </Table>
    </>
  )
}
