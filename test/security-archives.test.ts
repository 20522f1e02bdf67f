import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { registerAdmin, startServerWithAgent } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// The archive policy end to end: archives that reach outside their folder, sent to a real agent
// as an upload deploy or into a real container, are refused whole and leave nothing anywhere.

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
let work: string
/** A running container to unpack into, by Berth id and Docker id. */
let target: { id: string; docker_id: string }
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`
/** Host paths the archives aim at; none may exist after any test. */
const markers: string[] = []

beforeAll(async () => {
  work = mkdtempSync(join(os.tmpdir(), 'berth-archives-'))
  api = await startApi()
  admin = await registerAdmin(api.http)
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'archives-host'))
  const created = await api.http.post(`/servers/${serverId}/containers`, {
    token: admin,
    body: {
      image: TEST_IMAGE,
      name: name('files'),
      cmd: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
    },
  })
  expect(created.status, created.text).toBe(201)
  target = created.body.container
})

afterAll(async () => {
  const apps = (await api?.http.get('/apps?limit=200', { token: admin }))?.body.apps ?? []
  for (const app of apps) await api.http.delete(`/apps/${app.id}?force=true`, { token: admin })
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await api?.stop()
  for (const marker of markers) rmSync(marker, { recursive: true, force: true })
  if (work) rmSync(work, { recursive: true, force: true })
})

type Entry =
  | { name: string; type?: 'file'; body?: string }
  | { name: string; type: 'dir' | 'fifo' | 'chr' }
  | { name: string; type: 'symlink' | 'link'; linkname: string }

/** An archive of `entries`, in that order, made by Python's tarfile or zipfile as any client would. */
function archive(format: 'tar' | 'tar.gz' | 'zip', entries: Entry[]): Buffer {
  const file = join(work, `${Math.random().toString(36).slice(2)}.${format}`)
  execFileSync('python3', [
    '-c',
    `import io, json, stat, sys, tarfile, zipfile
fmt, path, entries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if fmt == 'zip':
    modes = {'file': stat.S_IFREG | 0o644, 'dir': stat.S_IFDIR | 0o755, 'symlink': stat.S_IFLNK | 0o777, 'chr': stat.S_IFCHR | 0o644}
    with zipfile.ZipFile(path, 'w') as z:
        for e in entries:
            kind = e.get('type', 'file')
            info = zipfile.ZipInfo(e['name'] + ('/' if kind == 'dir' else ''))
            info.create_system = 3
            info.external_attr = modes[kind] << 16
            z.writestr(info, e.get('linkname', e.get('body', '')))
else:
    types = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'link': tarfile.LNKTYPE, 'fifo': tarfile.FIFOTYPE, 'chr': tarfile.CHRTYPE}
    with tarfile.open(path, 'w:gz' if fmt == 'tar.gz' else 'w', format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            info = tarfile.TarInfo(e['name'])
            info.type = types[e.get('type', 'file')]
            info.mode = 0o755 if info.type == tarfile.DIRTYPE else 0o644
            info.linkname = e.get('linkname', '')
            body = e.get('body', '').encode()
            info.size = len(body) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(body))`,
    format,
    file,
    JSON.stringify(entries),
  ])
  return readFileSync(file)
}

/** A host path under /tmp for an archive to aim at, removed after the suite. */
function marker(what: string): string {
  const path = join('/tmp', `berth-archive-${run}-${what}`)
  markers.push(path)
  return path
}

/**
 * A link target that, once `u -> .` is followed, climbs from the agent's work folder to `/` and
 * names `path`; read lexically it stays inside. Fewer than the kernel's 40 links to follow.
 */
const throughRoot = (path: string) => `${'u/'.repeat(16)}${'../'.repeat(16)}${path.slice(1)}`

// ---------------------------------------------------------------- upload deploys

async function uploadDeploy(what: string, tarball: Buffer): Promise<any> {
  const created = await api.http.post('/apps', {
    token: admin,
    body: { name: name(what), server_id: serverId, port: 3000, source: { type: 'upload' } },
  })
  expect(created.status, created.text).toBe(201)
  const res = await fetch(`${api.url}/api/v1/apps/${created.body.app.id}/deploy`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/gzip' },
    body: new Uint8Array(tarball),
  })
  const body = await res.json()
  expect(res.status, JSON.stringify(body)).toBe(202)
  return waitFor(
    `deployment ${body.deployment.id} to finish`,
    async () => {
      const { deployment } = (await api.http.get(`/deployments/${body.deployment.id}`, { token: admin })).body
      return ['running', 'failed', 'cancelled'].includes(deployment?.state) ? deployment : undefined
    },
    60_000,
    200,
  )
}

const definition = (lines: string[]) =>
  ({
    name: 'captain-definition',
    body: JSON.stringify({ schemaVersion: 2, dockerfileLines: lines }),
  }) as const

describe('upload deploys', () => {
  test('a chain of symlinks that leads out only when followed fails the deployment and writes nothing', async () => {
    const aim = marker('chain')
    const done = await uploadDeploy(
      'chain',
      archive('tar.gz', [
        definition([`FROM ${TEST_IMAGE}`, 'CMD ["sleep", "3600"]']),
        { name: 'u', type: 'symlink', linkname: '.' },
        { name: 'captain-definition.Dockerfile', type: 'symlink', linkname: throughRoot(aim) },
      ]),
    )
    expect(existsSync(aim), 'the file the link aims at, on the host').toBe(false)
    expect(done.state).toBe('failed')
    expect(done.reason).toBe(
      `the upload was refused: the symlink "captain-definition.Dockerfile" points outside the upload, to "${throughRoot(aim)}"`,
    )
  })

  test('a captain-definition.Dockerfile that is a link inside the upload is not written through', async () => {
    const done = await uploadDeploy(
      'inside-link',
      archive('tar.gz', [
        definition([`FROM ${TEST_IMAGE}`, 'CMD ["sleep", "3600"]']),
        { name: 'index.html', body: 'mine' },
        { name: 'captain-definition.Dockerfile', type: 'symlink', linkname: 'index.html' },
      ]),
    )
    expect(done.state).toBe('failed')
    expect(done.reason).toBe("the upload's captain-definition.Dockerfile is a symlink")
  })

  test.each([
    ['a hard link', { name: 'copy', type: 'link', linkname: 'Dockerfile' } as const, /"copy" is a hard link/],
    ['a FIFO', { name: 'pipe', type: 'fifo' } as const, /"pipe" is a device, FIFO or other special file/],
    ['a device', { name: 'tty', type: 'chr' } as const, /"tty" is a device, FIFO or other special file/],
  ])('%s in an upload fails the deployment', async (_what, entry, reason) => {
    const done = await uploadDeploy(
      `special-${entry.type}`,
      archive('tar.gz', [{ name: 'Dockerfile', body: `FROM ${TEST_IMAGE}\nCMD ["sleep", "3600"]\n` }, entry]),
    )
    expect(done.state).toBe('failed')
    expect(done.reason).toMatch(/^the upload was refused: /)
    expect(done.reason).toMatch(reason)
  })
})

// ---------------------------------------------------------------- container files

function inContainer(script: string): string {
  return docker('exec', target.docker_id, 'sh', '-c', script)
}

async function unpackInto(path: string, format: 'tar' | 'zip', body: Buffer) {
  return api.http.post(
    `/servers/${serverId}/containers/${target.id}/files?path=${encodeURIComponent(path)}`,
    {
      token: admin,
      raw: new Uint8Array(body),
      headers: { 'Content-Type': format === 'zip' ? 'application/zip' : 'application/x-tar' },
    },
  )
}

function expectRefused(res: { status: number; body: any; text: string }, message: string) {
  expect(res.status, res.text).toBe(400)
  expect(res.body).toMatchObject({
    error: 'validation_error',
    code: 'archive_refused',
    status: 400,
    request_id: expect.stringMatching(/^req_/),
    timestamp: expect.any(String),
  })
  expect(res.body.message).toContain(message)
}

describe('container files', () => {
  test.each(['tar', 'zip'] as const)(
    'a %s entry written through a symlink already in the container is refused, nothing written',
    async (format) => {
      const dir = `/srv/${format}-through`
      inContainer(`mkdir -p ${dir} /srv/${format}-elsewhere && ln -s /srv/${format}-elsewhere ${dir}/sub`)
      const res = await unpackInto(
        dir,
        format,
        archive(format, [
          { name: 'ok.txt', body: 'fine' },
          { name: 'sub/marker', body: 'gotcha' },
        ]),
      )
      expectRefused(res, `the entry "sub" would be written through the symlink "sub" of ${dir}`)
      expect(inContainer(`ls -A /srv/${format}-elsewhere`)).toBe('')
      expect(inContainer(`ls -A ${dir}`)).toBe('sub')
    },
  )

  test('a symlink that leads through a symlink already in the container is refused', async () => {
    inContainer('mkdir -p /srv/via /srv/via-elsewhere && ln -s /srv/via-elsewhere /srv/via/sub')
    const res = await unpackInto(
      '/srv/via',
      'tar',
      archive('tar', [{ name: 'l', type: 'symlink', linkname: 'sub/x' }]),
    )
    expectRefused(res, 'leads through the symlink "sub" of /srv/via')
    expect(inContainer('ls -A /srv/via')).toBe('sub')
  })

  test.each([
    [
      'a hard link',
      'tar',
      [
        { name: 'a', body: 'x' },
        { name: 'h', type: 'link', linkname: 'a' },
      ],
      'the entry "h" is a hard link',
    ],
    ['a zip entry with a device mode', 'zip', [{ name: 'tty', type: 'chr' }], 'the entry "tty" is a device'],
    [
      'a folder replaced by a symlink of the same archive',
      'tar',
      [
        { name: 'd', type: 'dir' },
        { name: 'd/keep', body: 'x' },
        { name: 'd', type: 'symlink', linkname: '.' },
      ],
      'the entry "d" appears twice',
    ],
  ] as const)('%s is refused whole, nothing written', async (_what, format, entries, message) => {
    const dir = `/srv/special-${Math.random().toString(36).slice(2, 8)}`
    const res = await unpackInto(dir, format, archive(format, [...entries] as Entry[]))
    expectRefused(res, message)
    expect(inContainer(`ls -d ${dir} 2>/dev/null || echo absent`)).toBe('absent')
  })
})
