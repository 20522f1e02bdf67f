import { execFile, execFileSync } from 'node:child_process'
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { removeContainers, TEST_IMAGE } from './support/docker.ts'
import { registerAdmin, startServerWithAgent } from './support/flows.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// A zip download past a limit of zips without zip64: a folder of more than 65,535 entries
// (empty folders and a file).

const MANY = 65_540
const execFileAsync = promisify(execFile)

let api: ApiTarget
let admin: string
let serverId: string
let agent: Child
let work: string
let container: { id: string; docker_id: string }
const run = Math.random().toString(36).slice(2, 7)
const volume = `t${run}-zip-data`

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'zip-host'))
  const res = await api.http.post(`/servers/${serverId}/containers`, {
    token: admin,
    body: {
      image: TEST_IMAGE,
      name: `t${run}-zip`,
      cmd: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
      volumes: [{ source: volume, target: '/data' }],
    },
  })
  expect(res.status, res.text).toBe(201)
  container = res.body.container
  // Not execFileSync: a loop held that long misses the API closing an idle kept-alive socket,
  // and the next fetch would go out on it.
  const inContainer = (script: string) =>
    execFileAsync('docker', ['exec', container.docker_id, 'sh', '-c', script])
  await inContainer(`mkdir /data/many && cd /data/many && seq 2 ${MANY} | xargs mkdir && echo last > 1`)
  work = mkdtempSync(join(os.tmpdir(), 'berth-zip-downloads-'))
}, 120_000)

afterAll(async () => {
  await agent?.stop()
  if (container) removeContainers([container.docker_id])
  execFileSync('docker', ['volume', 'rm', '-f', volume], { stdio: 'ignore' })
  await api?.stop()
  if (work) rmSync(work, { recursive: true, force: true })
})

/** Downloads a folder as zip into a file of the work folder, as `curl -o` would. */
async function downloadZip(path: string): Promise<{ status: number; type: string | null; file: string }> {
  const res = await fetch(
    `${api.url}/api/v1/servers/${serverId}/containers/${container.id}/files?path=${path}&format=zip`,
    { headers: { Authorization: `Bearer ${admin}` } },
  )
  const file = join(work, `${path.replaceAll('/', '_')}.zip`)
  if (res.body) await pipeline(Readable.fromWeb(res.body as never), createWriteStream(file))
  return { status: res.status, type: res.headers.get('content-type'), file }
}

const unzip = (...args: string[]) => execFileSync('unzip', args, { encoding: 'utf8', maxBuffer: 64 << 20 })

describe('zip downloads that need zip64', () => {
  test('a folder of more than 65,535 entries comes as a zip that unzip extracts, names and bytes intact', async () => {
    const { status, file } = await downloadZip('/data/many')
    expect(status).toBe(200)
    const out = join(work, 'many')
    unzip('-qq', file, '-d', out)
    const names = readdirSync(out)
    expect(names).toHaveLength(MANY)
    expect(names).toContain(String(MANY))
    expect(statSync(join(out, String(MANY))).isDirectory()).toBe(true)
    expect(readFileSync(join(out, '1'), 'utf8')).toBe('last\n')
  }, 300_000)
})
