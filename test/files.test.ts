import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import os from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { createUser, registerAdmin, startServerWithAgent, waitForServerStatus } from './support/flows.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

const MAX_UPLOAD_BYTES = 2 * 1024 * 1024
const README = 'hello from berth\n'
const UNICODE = 'ünïcode ✓\n'
const BLOB_BYTES = 300_000
/** The bytes of the files of the test tree. */
const TREE_BYTES = Buffer.byteLength(README) + Buffer.byteLength(UNICODE) + BLOB_BYTES

let api: ApiTarget
let admin: string
let viewer: string
let member: string
let serverId: string
let agent: Child
/** The agent's state folder; its uploads are kept under work/uploads until unpacked. */
let agentDir: string
let work: string
/** A running container and a stopped one, by Berth id and Docker id. */
let running: { id: string; docker_id: string }
let stopped: { id: string; docker_id: string }
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`

beforeAll(async () => {
  api = await startApi({ env: { BERTH_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) } })
  admin = await registerAdmin(api.http)
  viewer = (await createUser(api.http, admin, 'viewer')).token
  member = (await createUser(api.http, admin, 'member')).token
  ;({ serverId, agent, stateDir: agentDir } = await startServerWithAgent(api, admin, 'files-host'))
  running = await create('files')
  stopped = await create('files-stopped')
  const stop = await api.http.post(containers(`/${stopped.id}/stop`), { token: admin, body: { timeout: 0 } })
  expect(stop.status, stop.text).toBe(200)
  work = mkdtempSync(join(os.tmpdir(), 'berth-files-'))
  makeTree(join(work, 'tree'))
})

afterAll(async () => {
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  await api?.stop()
  if (work) rmSync(work, { recursive: true, force: true })
})

const containers = (rest = '') => `/servers/${serverId}/containers${rest}`
const files = (container: { id: string }, query: string) => containers(`/${container.id}/files?${query}`)

async function create(what: string) {
  const res = await api.http.post(containers(), {
    token: admin,
    body: { image: TEST_IMAGE, name: name(what), cmd: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'] },
  })
  expect(res.status, res.text).toBe(201)
  return res.body.container as { id: string; docker_id: string }
}

/** A tree with nested folders, an empty folder, text and a binary file that is not UTF-8. */
function makeTree(root: string) {
  mkdirSync(join(root, 'nested/deeper'), { recursive: true })
  mkdirSync(join(root, 'empty'))
  writeFileSync(join(root, 'readme.txt'), README)
  writeFileSync(join(root, 'nested/ünïcode name.txt'), UNICODE)
  writeFileSync(join(root, 'nested/deeper/blob.bin'), randomBytes(BLOB_BYTES))
}

/** Every file under `root` with its bytes, and every folder, by relative path. */
function contents(root: string): Record<string, string> {
  const found: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry)
      if (statSync(path).isDirectory()) {
        found[`${relative(root, path)}/`] = 'dir'
        walk(path)
      } else found[relative(root, path)] = readFileSync(path).toString('base64')
    }
  }
  walk(root)
  return found
}

function sh(command: string, args: string[], cwd = work): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8' })
}

function python(script: string, ...args: string[]) {
  sh('python3', ['-c', script, ...args])
}

async function upload(container: { id: string }, path: string, body: Buffer, type: string, token = admin) {
  return api.http.post(files(container, `path=${encodeURIComponent(path)}`), {
    token,
    raw: new Uint8Array(body),
    headers: { 'Content-Type': type },
  })
}

async function download(container: { id: string }, query: string, token = admin) {
  const res = await fetch(`${api.url}/api/v1${files(container, query)}`, {
    headers: { Authorization: `Bearer ${token}` },
  })
  return { res, bytes: Buffer.from(await res.arrayBuffer()) }
}

/** Unpacks a downloaded tar or zip into a fresh folder of the work folder. */
function unpack(bytes: Buffer, format: 'tar' | 'zip'): string {
  const dir = mkdtempSync(join(work, `${format}-`))
  const file = `${dir}.${format}`
  writeFileSync(file, bytes)
  if (format === 'tar') sh('tar', ['-xf', file, '-C', dir])
  else sh('python3', ['-m', 'zipfile', '-e', file, dir])
  return dir
}

/**
 * A tar upload on a connection of its own: the API answers a body over the limit before reading
 * it, and closes the connection, which a pooled client would go on to reuse.
 */
function postOnce(path: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${api.url}/api/v1${path}`, {
      method: 'POST',
      agent: false,
      headers: {
        Authorization: `Bearer ${admin}`,
        'Content-Type': 'application/x-tar',
        'Content-Length': body.length,
        Connection: 'close',
      },
    })
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (piece: string) => {
        text += piece
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    // The API may close the connection before the whole body is sent; its answer still counts.
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)))
    req.end(body)
  })
}

const exists = (container: { docker_id: string }, path: string) => {
  try {
    docker('exec', container.docker_id, 'ls', '-d', path)
    return true
  } catch {
    return false
  }
}

describe('uploads and downloads', () => {
  test('a zip and a tar with nested folders unpack; they come back byte for byte as tar and as zip', async () => {
    const tree = join(work, 'tree')
    sh('python3', ['-m', 'zipfile', '-c', join(work, 'tree.zip'), '.'], tree)
    sh('tar', ['-cf', join(work, 'tree.tar'), '-C', tree, '.'])

    const zipped = await upload(
      running,
      '/data/zipped',
      readFileSync(join(work, 'tree.zip')),
      'application/zip',
    )
    expect(zipped.status, zipped.text).toBe(201)
    // readme.txt, empty/, nested/, its file, nested/deeper/ and the blob.
    expect(zipped.body.files).toEqual({ path: '/data/zipped', entries: 6, bytes: TREE_BYTES })
    const tarred = await upload(
      running,
      '/data/tarred',
      readFileSync(join(work, 'tree.tar')),
      'application/x-tar',
    )
    expect(tarred.status, tarred.text).toBe(201)
    expect(tarred.body.files).toEqual({ path: '/data/tarred', entries: 6, bytes: TREE_BYTES })
    expect(docker('exec', running.docker_id, 'cat', '/data/tarred/readme.txt')).toBe('hello from berth')

    const expected = contents(tree)
    for (const path of ['/data/zipped', '/data/tarred']) {
      const asTar = await download(running, `path=${path}`, member)
      expect(asTar.res.status).toBe(200)
      expect(asTar.res.headers.get('content-type')).toBe('application/x-tar')
      expect(asTar.res.headers.get('content-disposition')).toContain(
        `filename="${path.split('/').pop()}.tar"`,
      )
      expect(contents(unpack(asTar.bytes, 'tar'))).toEqual(expected)

      const asZip = await download(running, `path=${path}&format=zip`, member)
      expect(asZip.res.status).toBe(200)
      expect(asZip.res.headers.get('content-type')).toBe('application/zip')
      expect(contents(unpack(asZip.bytes, 'zip'))).toEqual(expected)
    }
  })

  test('a binary file comes back as is', async () => {
    const blob = readFileSync(join(work, 'tree/nested/deeper/blob.bin'))
    const tar = join(work, 'blob.tar')
    sh('tar', ['-cf', tar, '-C', join(work, 'tree/nested/deeper'), 'blob.bin'])
    const put = await upload(running, '/data/raw', readFileSync(tar), 'application/x-tar')
    expect(put.status, put.text).toBe(201)
    const { res, bytes } = await download(running, 'path=/data/raw/blob.bin')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expect(res.headers.get('content-disposition')).toContain('filename="blob.bin"')
    expect(res.headers.get('content-length')).toBe(String(blob.length))
    expect(bytes.equals(blob)).toBe(true)
  })

  test('a stopped container takes an upload into folders it does not have yet, and gives files back', async () => {
    const tar = join(work, 'small.tar')
    sh('tar', ['-cf', tar, '-C', join(work, 'tree'), 'readme.txt', 'nested'])
    const res = await upload(stopped, '/srv/new/deeper', readFileSync(tar), 'application/x-tar')
    expect(res.status, res.text).toBe(201)
    expect(res.body.files).toMatchObject({ path: '/srv/new/deeper', bytes: TREE_BYTES })
    expect(docker('inspect', '-f', '{{.State.Status}}', stopped.docker_id)).toBe('exited')

    const file = await download(stopped, 'path=/srv/new/deeper/readme.txt')
    expect(file.res.status).toBe(200)
    expect(file.bytes.toString()).toBe('hello from berth\n')
    const dir = await download(stopped, 'path=/srv/new&format=zip')
    expect(dir.res.status).toBe(200)
    expect(contents(unpack(dir.bytes, 'zip'))['deeper/nested/ünïcode name.txt']).toBe(
      Buffer.from(UNICODE).toString('base64'),
    )
  })
})

describe('archives that reach outside their folder are refused whole', () => {
  test('a zip with a ../ entry (zip slip)', async () => {
    const zip = join(work, 'slip.zip')
    python(
      `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('good.txt', 'fine')
    z.writestr('../evil', 'gotcha')`,
      zip,
    )
    const res = await upload(running, '/data/slip', readFileSync(zip), 'application/zip')
    expect(res.status, res.text).toBe(400)
    expect(res.body).toMatchObject({ error: 'validation_error' })
    expect(res.body.message).toContain('"../evil"')
    expect(exists(running, '/data/slip')).toBe(false)
    expect(exists(running, '/data/evil')).toBe(false)
  })

  test('a tar with an absolute entry', async () => {
    const tar = join(work, 'absolute.tar')
    python(
      `import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w') as t:
    for name in ['good.txt', '/tmp/berth-absolute']:
        info = tarfile.TarInfo(name)
        info.size = 4
        t.addfile(info, io.BytesIO(b'data'))`,
      tar,
    )
    const res = await upload(running, '/data/absolute', readFileSync(tar), 'application/x-tar')
    expect(res.status, res.text).toBe(400)
    expect(res.body.message).toContain('"/tmp/berth-absolute" is an absolute path')
    expect(exists(running, '/data/absolute')).toBe(false)
    expect(exists(running, '/tmp/berth-absolute')).toBe(false)
  })

  test('a symlink that points outside, with a file written through it', async () => {
    docker('exec', running.docker_id, 'sh', '-c', 'mkdir -p /data/linked && echo original > /data/target.txt')
    const tar = join(work, 'symlink.tar')
    python(
      `import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w') as t:
    link = tarfile.TarInfo('escape')
    link.type = tarfile.SYMTYPE
    link.linkname = '..'
    t.addfile(link)
    info = tarfile.TarInfo('escape/target.txt')
    info.size = 7
    t.addfile(info, io.BytesIO(b'changed'))`,
      tar,
    )
    const res = await upload(running, '/data/linked', readFileSync(tar), 'application/x-tar')
    expect(res.status, res.text).toBe(400)
    expect(res.body.message).toContain('the symlink "escape" points outside /data/linked')
    expect(docker('exec', running.docker_id, 'ls', '-A', '/data/linked')).toBe('')
    expect(docker('exec', running.docker_id, 'cat', '/data/target.txt')).toBe('original')
  })
})

describe('requests that are refused', () => {
  test('a body over BERTH_MAX_UPLOAD_BYTES is 413', async () => {
    const res = await postOnce(files(running, 'path=/data/big'), Buffer.alloc(MAX_UPLOAD_BYTES + 1024))
    expect(res.status, res.text).toBe(413)
    expect(JSON.parse(res.text)).toMatchObject({ error: 'payload_too_large', status: 413 })
    expect(exists(running, '/data/big')).toBe(false)
  })

  test('another content type, an empty body, a relative path, a viewer: 400s and a 403', async () => {
    const text = await upload(running, '/data/x', Buffer.from('hello'), 'text/plain')
    expect(text.status).toBe(400)
    expect(text.body).toMatchObject({ error: 'validation_error', code: 'unsupported_content_type' })
    const empty = await upload(running, '/data/x', Buffer.alloc(0), 'application/zip')
    expect(empty.status).toBe(400)
    expect(empty.body.error).toBe('validation_error')
    const relativePath = await upload(running, 'data/x', Buffer.from('x'), 'application/x-tar')
    expect(relativePath.status).toBe(400)
    expect((await download(running, 'path=data')).res.status).toBe(400)
    expect((await download(running, 'path=/data&format=rar')).res.status).toBe(400)
    const notZip = await upload(running, '/data/x', Buffer.from('not a zip at all'), 'application/zip')
    expect(notZip.status, notZip.text).toBe(400)
    expect(notZip.body.message).toContain('not a readable zip')
    expect((await upload(running, '/data/x', Buffer.from('x'), 'application/x-tar', viewer)).status).toBe(403)
    expect(exists(running, '/data/x')).toBe(false)
  })

  test('an unknown path or container is 404; an offline agent is 503', async () => {
    const missing = await download(running, 'path=/no/such/file')
    expect(missing.res.status).toBe(404)
    expect(JSON.parse(missing.bytes.toString()).error).toBe('not_found')
    const unknown = await api.http.get(containers('/ctr_nosuchcontainer/files?path=/data'), { token: admin })
    expect(unknown.status).toBe(404)

    // Every upload so far, unpacked or refused, left no file behind on the host.
    expect(readdirSync(join(agentDir, 'work/uploads'))).toEqual([])

    await agent.stop()
    await waitForServerStatus(api.http, admin, serverId, 'offline')
    const offline = await upload(running, '/data/offline', Buffer.from('x'), 'application/x-tar')
    expect(offline.status, offline.text).toBe(503)
    expect(offline.body.error).toBe('agent_offline')
    expect((await download(running, 'path=/data')).res.status).toBe(503)
  })
})
