import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { newRuntime } from './ops/index.ts'
import { tarOf } from './testing/archives.ts'
import { opCaller } from './testing/ops.ts'
import { dockerCli, TEST_IMAGE, TestDocker } from './testing/test-docker.ts'
import { Uploads } from './uploads.ts'

const fixtures = new TestDocker()
let workDir: string

beforeAll(async () => {
  workDir = await mkdtemp(join(os.tmpdir(), 'berth-uploads-'))
})

afterEach(() => fixtures.removeContainers())

afterAll(async () => {
  fixtures.removeAll()
  await rm(workDir, { recursive: true, force: true })
})

const piece = (uploadId: string, offset: number, data: Buffer | string) => ({
  upload_id: uploadId,
  offset,
  data: Buffer.from(data).toString('base64'),
})

describe('upload.chunk', () => {
  it('writes each piece at its offset, in any order and more than once', async () => {
    const uploads = new Uploads(workDir)
    expect(await uploads.write(piece('upl_1', 5, 'world'))).toBe(10)
    expect(await uploads.write(piece('upl_1', 0, 'hello'))).toBe(10)
    expect(await uploads.write(piece('upl_1', 0, 'hello'))).toBe(10)
    expect(await readFile(uploads.path('upl_1'), 'utf8')).toBe('helloworld')
    expect((await stat(uploads.path('upl_1'))).mode & 0o777).toBe(0o600)
  })
})

describe('files.put', { timeout: 30_000 }, () => {
  it('unpacks an upload into a container on an agent that serves no apps', async () => {
    const { call } = opCaller(newRuntime({ workDir }))
    const id = fixtures.run(TEST_IMAGE, 'sleep', '60')
    const archive = await tarOf({ 'hello.txt': 'from an upload\n' })

    expect(await call('upload.chunk', piece('upl_files', 0, archive))).toEqual({ bytes: archive.length })
    const put = await call('files.put', {
      ref: id,
      path: '/srv/uploaded',
      upload_id: 'upl_files',
      bytes: archive.length,
      format: 'tar',
    })

    expect(put).toEqual({ entries: 1, bytes: 'from an upload\n'.length })
    expect(dockerCli('exec', id, 'cat', '/srv/uploaded/hello.txt')).toBe('from an upload')
  })
})
