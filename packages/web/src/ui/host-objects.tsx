import { api, call } from '../api.ts'
import { useLoad } from '../load.ts'
import { canWrite } from '../session.ts'
import { ConfirmButton } from './confirm.tsx'
import { ErrorNote } from './error.tsx'
import { bytes } from './format.ts'
import { Table } from './table.tsx'

// A server's images, volumes and networks, read from its agent, each removable by members.

const BUILT_IN_NETWORKS = new Set(['bridge', 'host', 'none'])
const when = (seconds: number | null) => (seconds ? new Date(seconds * 1000).toLocaleString() : '–')

function Remove({ name, onConfirm }: { name: string; onConfirm: () => Promise<unknown> }) {
  if (!canWrite()) return null
  return (
    <ConfirmButton label={`Remove ${name}`} confirm={`Remove ${name} for good`} onConfirm={onConfirm}>
      Remove
    </ConfirmButton>
  )
}

export function Images({ serverId }: { serverId: string }) {
  const sid = serverId
  const images = useLoad(
    async () => (await call(api().servers[':sid'].images.$get({ param: { sid } }))).images,
    [sid],
  )
  return (
    <section aria-labelledby="images-title">
      <h2 id="images-title">Images</h2>
      <ErrorNote error={images.error} />
      <Table
        columns={['Tags', 'Id', 'Size', 'Created', 'Containers', canWrite() && 'Actions']}
        empty="No images."
      >
        {(images.data ?? []).map((image) => {
          const name = image.tags[0] ?? image.id.replace(/^sha256:/, '').slice(0, 12)
          const remove = async () => {
            await call(
              api().servers[':sid'].images[':ref{.+}'].$delete({
                param: { sid, ref: image.id },
                query: {},
              }),
            )
            images.set((list) => list?.filter((i) => i.id !== image.id))
          }
          return (
            <tr key={image.id}>
              <td>{image.tags.join(', ') || '<none>'}</td>
              <td class="mono">{image.id.replace(/^sha256:/, '').slice(0, 12)}</td>
              <td>{bytes(image.size)}</td>
              <td>{when(image.created_at)}</td>
              <td>{image.containers ?? '–'}</td>
              {canWrite() && (
                <td>
                  <Remove name={name} onConfirm={remove} />
                </td>
              )}
            </tr>
          )
        })}
      </Table>
    </section>
  )
}

export function Volumes({ serverId }: { serverId: string }) {
  const sid = serverId
  const volumes = useLoad(
    async () => (await call(api().servers[':sid'].volumes.$get({ param: { sid } }))).volumes,
    [sid],
  )
  return (
    <section aria-labelledby="volumes-title">
      <h2 id="volumes-title">Volumes</h2>
      <ErrorNote error={volumes.error} />
      <Table columns={['Name', 'Driver', 'In use', 'Created', canWrite() && 'Actions']} empty="No volumes.">
        {(volumes.data ?? []).map((volume) => {
          const remove = async () => {
            await call(
              api().servers[':sid'].volumes[':name'].$delete({
                param: { sid, name: volume.name },
                query: {},
              }),
            )
            volumes.set((list) => list?.filter((v) => v.name !== volume.name))
          }
          return (
            <tr key={volume.name}>
              <td class="mono">{volume.name}</td>
              <td>{volume.driver}</td>
              <td>{volume.in_use === null ? '–' : volume.in_use ? 'yes' : 'no'}</td>
              <td>{when(volume.created_at)}</td>
              {canWrite() && (
                <td>
                  <Remove name={volume.name} onConfirm={remove} />
                </td>
              )}
            </tr>
          )
        })}
      </Table>
    </section>
  )
}

export function Networks({ serverId }: { serverId: string }) {
  const sid = serverId
  const networks = useLoad(
    async () => (await call(api().servers[':sid'].networks.$get({ param: { sid } }))).networks,
    [sid],
  )
  return (
    <section aria-labelledby="networks-title">
      <h2 id="networks-title">Networks</h2>
      <ErrorNote error={networks.error} />
      <Table columns={['Name', 'Driver', 'Scope', 'Internal', canWrite() && 'Actions']} empty="No networks.">
        {(networks.data ?? []).map((network) => {
          const remove = async () => {
            await call(api().servers[':sid'].networks[':ref'].$delete({ param: { sid, ref: network.id } }))
            networks.set((list) => list?.filter((n) => n.id !== network.id))
          }
          return (
            <tr key={network.id}>
              <td class="mono">{network.name}</td>
              <td>{network.driver}</td>
              <td>{network.scope}</td>
              <td>{network.internal ? 'yes' : 'no'}</td>
              {canWrite() && (
                <td>
                  {!BUILT_IN_NETWORKS.has(network.name) && <Remove name={network.name} onConfirm={remove} />}
                </td>
              )}
            </tr>
          )
        })}
      </Table>
    </section>
  )
}
