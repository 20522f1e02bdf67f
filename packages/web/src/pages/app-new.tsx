import { useState } from 'preact/hooks'
import { api, call } from '../api.ts'
import { useLoad } from '../load.ts'
import { navigate } from '../router.tsx'
import { canWrite } from '../session.ts'
import { useSubmit } from '../ui/busy.tsx'
import { ErrorNote } from '../ui/error.tsx'
import { queueDeploy } from './app/deploy.ts'

type SourceType = 'git' | 'image' | 'upload'

const listServers = async () => (await call(api().servers.$get({ query: {} }))).servers

/** The source part of the create body, from the form's fields for the chosen type. */
function sourceOf(type: SourceType, form: FormData) {
  const text = (name: string) => String(form.get(name) ?? '').trim()
  if (type === 'git') return { type, url: text('url'), branch: text('branch') || 'main' }
  if (type === 'image') return { type, image: text('image') }
  return { type }
}

async function createApp(type: SourceType, form: FormData): Promise<string> {
  const { app } = await call(
    api().apps.$post({
      json: {
        name: String(form.get('name') ?? '').trim(),
        server_id: String(form.get('server') ?? ''),
        source: sourceOf(type, form),
        port: Number(form.get('port') || 3000),
      },
    }),
  )
  return app.id
}

/** Creates an app from git, an image or an uploaded tarball; an upload is deployed at once. */
export default function NewApp() {
  const servers = useLoad(listServers, [])
  const [type, setType] = useState<SourceType>('git')
  // An app made whose upload then failed: trying again sends the tarball only.
  const [created, setCreated] = useState<string | null>(null)
  const submit = useSubmit(async (form) => {
    const tarball = form.get('tarball')
    if (type === 'upload' && !(tarball instanceof File && tarball.size > 0))
      throw new Error('Choose a .tar.gz file to upload')
    const appId = created ?? (await createApp(type, form))
    setCreated(appId)
    if (type === 'upload') await queueDeploy(appId, tarball as File)
    navigate(`/apps/${appId}`)
  })
  if (!canWrite()) return <p>Creating an app needs the member or admin role.</p>
  return (
    <>
      <h1>Create an app</h1>
      <ErrorNote error={servers.error} />
      <form onSubmit={submit.onSubmit}>
        <label>
          Name
          <input
            name="name"
            required
            disabled={created !== null}
            pattern="[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?"
            autocomplete="off"
          />
          <span class="muted">Lowercase letters, digits and inner hyphens.</span>
        </label>
        <label>
          Server
          <select name="server" required>
            {(servers.data ?? []).map((s) => (
              <option key={s.id} value={s.id}>
                {s.name} ({s.status})
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Source</legend>
          {(['git', 'image', 'upload'] as const).map((t) => (
            <label key={t} class="inline">
              <input type="radio" name="type" value={t} checked={type === t} onChange={() => setType(t)} />
              {{ git: 'Git repository', image: 'Docker image', upload: 'Upload a tarball' }[t]}
            </label>
          ))}
        </fieldset>
        {type === 'git' && (
          <>
            <label>
              Repository URL
              <input name="url" required placeholder="https://github.com/me/web.git" autocomplete="off" />
            </label>
            <label>
              Branch
              <input name="branch" placeholder="main" autocomplete="off" />
            </label>
          </>
        )}
        {type === 'image' && (
          <label>
            Image
            <input name="image" required placeholder="nginx:1.27" autocomplete="off" />
          </label>
        )}
        {type === 'upload' && (
          <label>
            Tarball (.tar.gz with a Dockerfile or captain-definition)
            <input name="tarball" type="file" accept=".tar.gz,.tgz,application/gzip" required />
          </label>
        )}
        <label>
          Port the app listens on
          <input name="port" type="number" min={1} max={65535} value="3000" required />
        </label>
        <p class="actions">
          <button type="submit" class="primary" disabled={submit.busy}>
            {type === 'upload' ? 'Create and deploy' : 'Create app'}
          </button>
        </p>
        <ErrorNote error={submit.error} />
      </form>
    </>
  )
}
