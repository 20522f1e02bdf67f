import { gzipSync } from 'node:zlib'
import { APP_LABELS, appHealthEvent, appRestartEvent } from '@berth/shared'
import tar from 'tar-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tarOf } from '../testing/archives.ts'
import { AppBench, get, httpApp, QUICK_CHECK } from '../testing/test-apps.ts'
import { dockerCli, inspectCli, TEST_IMAGE } from '../testing/test-docker.ts'
import { SERVER_LABEL } from './rollout.ts'

// Uploads, images, clean-up, app removal, an agent restart and the health monitor, against real Docker.
let bench: AppBench

beforeAll(async () => {
  bench = await AppBench.create()
})

afterAll(async () => {
  await bench.cleanUp()
})

/** A .tar.gz of `files`, as `berth deploy` of a folder would send it. */
const tarGz = async (files: Record<string, string>) => gzipSync(await tarOf(files))

/** Sends `data` with upload.chunk in two pieces, the second first and the first twice. */
async function upload(uploadId: string, data: Buffer): Promise<void> {
  const half = Math.floor(data.length / 2)
  const piece = (offset: number, end: number) => ({
    upload_id: uploadId,
    offset,
    data: data.subarray(offset, end).toString('base64'),
  })
  expect(await bench.call('upload.chunk', piece(half, data.length))).toEqual({ bytes: data.length })
  expect(await bench.call('upload.chunk', piece(0, half))).toEqual({ bytes: data.length })
  expect(await bench.call('upload.chunk', piece(0, half))).toEqual({ bytes: data.length })
}

let uploadedImage = ''
let uploadedPort = 0

describe('an uploaded tarball', { timeout: 60_000 }, () => {
  it('with a captain-definition of Dockerfile lines is built and run', async () => {
    const { Dockerfile = '', ...files } = httpApp('uploaded page')
    const data = await tarGz({
      'captain-definition': JSON.stringify({ schemaVersion: 2, dockerfileLines: Dockerfile.split('\n') }),
      ...files,
    })
    await upload('upl_good', data)
    const args = bench.args({ type: 'upload', upload_id: 'upl_good', bytes: data.length })
    const status = await bench.deploy(args)

    expect(status).toMatchObject({ state: 'running', image: args.image_tag })
    expect(await get(status.host_port ?? 0)).toEqual({ status: 200, body: 'uploaded page\n' })
    expect(bench.jobFrames(args.deployment_id).map((f) => f.state)).toContain('building')
    uploadedImage = args.image_tag
    uploadedPort = status.host_port ?? 0
  })

  it('is refused whole, naming the entry, when an entry would land outside', async () => {
    const pack = tar.pack()
    const chunks: Buffer[] = []
    pack.on('data', (chunk: Buffer) => chunks.push(chunk))
    pack.entry({ name: 'Dockerfile' }, 'FROM scratch')
    pack.entry({ name: 'etc', type: 'symlink', linkname: '/etc' })
    pack.finalize()
    await new Promise((resolve) => pack.on('end', resolve))
    const data = gzipSync(Buffer.concat(chunks))
    await upload('upl_bad', data)
    const status = await bench.deploy(
      bench.args({ type: 'upload', upload_id: 'upl_bad', bytes: data.length }),
    )
    expect(status).toMatchObject({
      state: 'failed',
      reason: 'the upload was refused: the symlink "etc" points outside the upload, to "/etc"',
    })
  })

  it('fails when the upload on the host is not the size announced', async () => {
    await bench.call('upload.chunk', { upload_id: 'upl_short', offset: 0, data: 'AAAA' })
    const status = await bench.deploy(bench.args({ type: 'upload', upload_id: 'upl_short', bytes: 10 }))
    expect(status).toMatchObject({
      state: 'failed',
      reason: 'the uploaded tarball has 3 bytes, not the 10 sent',
    })
  })
})

describe('an image deploy', { timeout: 60_000 }, () => {
  it('runs an image on the host without pulling it, on the same host port as before', async () => {
    const args = bench.args({ type: 'image', image: uploadedImage }, { run: { host_port: uploadedPort } })
    // Asked twice: accepted twice, run once.
    expect(await bench.call('deploy.start', args)).toEqual({ accepted: true })
    const status = await bench.deploy(args)
    expect(status).toMatchObject({ state: 'running', image: uploadedImage, host_port: uploadedPort })
    expect(bench.jobFrames(args.deployment_id).filter((f) => f.state === 'running')).toHaveLength(1)
    expect(bench.jobFrames(args.deployment_id).map((f) => f.state)).not.toContain('building')
    expect(await get(uploadedPort)).toEqual({ status: 200, body: 'uploaded page\n' })
  })

  it('fails, leaving the app as it was, when the new container exits during its grace period', async () => {
    const before = bench.containers()
    const args = bench.args(
      { type: 'image', image: TEST_IMAGE },
      { run: { host_port: uploadedPort, health_check: null } },
    )
    const status = await bench.deploy(args)
    expect(status.state).toBe('failed')
    expect(status.reason).toMatch(/^the new container berth-.+ (is exited|is restarting|restarted)/)
    expect(bench.containers()).toEqual(before)
    expect(await get(uploadedPort)).toEqual({ status: 200, body: 'uploaded page\n' })
  })

  it('fails a rollback to an image no longer on the host, and a pull no registry answers', async () => {
    const gone = await bench.deploy(bench.args({ type: 'prebuilt', image: 'berth-test-app/gone:dep_none' }))
    expect(gone).toMatchObject({
      state: 'failed',
      reason: 'the image berth-test-app/gone:dep_none is no longer on this host',
    })
    const unpullable = await bench.deploy(
      bench.args(
        { type: 'image', image: '127.0.0.1:9/berth-test/none:1' },
        { deadlines: { clone_ms: 5_000, build_ms: 10_000 } },
      ),
    )
    expect(unpullable).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/^cannot pull 127.0.0.1:9\/berth-test\/none:1/),
    })
  })

  it('answers deploy.status with what it knows and leaves unknown ids out', async () => {
    const { jobs } = await bench.call('deploy.status', { deployment_ids: ['dep_unknown'] })
    expect(jobs).toEqual([])
  })
})

describe('after an agent restart', { timeout: 60_000 }, () => {
  it('serves the apps again from the containers of the deployment that served them', async () => {
    // A deploy the agent did not finish left newer containers; they must not get the traffic.
    const interrupted = dockerCli(
      'run',
      '-d',
      ...[APP_LABELS.app, bench.appId, APP_LABELS.deployment, 'dep_interrupted', APP_LABELS.port, '3000']
        .concat([APP_LABELS.hostPort, String(uploadedPort), SERVER_LABEL, bench.serverId])
        .flatMap((v, i, all) => (i % 2 === 0 ? ['--label', `${v}=${all[i + 1]}`] : [])),
      TEST_IMAGE,
      'sh',
      '-c',
      "echo interrupted > /www/index.html; trap 'exit 0' TERM; httpd -f -p 3000 -h /www & wait",
    )
    expect(interrupted).not.toBe('')
    await bench.apps.stop()
    await expect(get(uploadedPort)).rejects.toThrow()
    const restarted = bench.newRuntime()
    try {
      await restarted.apps?.restore()
      expect(await get(uploadedPort)).toEqual({ status: 200, body: 'uploaded page\n' })
      // Doing it again changes nothing.
      await restarted.apps?.restore()
      expect(await get(uploadedPort)).toEqual({ status: 200, body: 'uploaded page\n' })
    } finally {
      await restarted.apps?.stop()
      dockerCli('rm', '-f', interrupted)
    }
    await bench.apps.restore()
  })
})

describe('the health monitor', { timeout: 60_000 }, () => {
  it('reports health results and restarts a container that keeps failing its check', async () => {
    const status = await bench.deploy(
      bench.args(
        { type: 'image', image: uploadedImage },
        { run: { host_port: uploadedPort, health_check: { ...QUICK_CHECK, path: '/index.html' } } },
      ),
    )
    expect(status.state).toBe('running')
    const id = status.containers?.[0] ?? ''
    const stop = new AbortController()
    const monitoring = bench.apps.run(stop.signal)
    try {
      const results = () =>
        bench.frames.flatMap((f) =>
          f.type === 'event' && f.kind === 'app.health' ? appHealthEvent.parse(f.data).results : [],
        )
      await expect
        .poll(() => results().some((r) => r.docker_id === id && r.ok), { timeout: 5_000 })
        .toBe(true)
      dockerCli('exec', id, 'rm', '/www/index.html')
      const restarts = () =>
        bench.frames.flatMap((f) =>
          f.type === 'event' && f.kind === 'app.restarted' ? [appRestartEvent.parse(f.data)] : [],
        )
      await expect.poll(() => restarts().length, { timeout: 10_000 }).toBeGreaterThan(0)
      expect(restarts()[0]).toEqual({
        app_id: bench.appId,
        docker_id: id,
        reason: expect.stringMatching(/^2 health checks failed in a row: HTTP 404/),
      })
      expect(results().some((r) => r.docker_id === id && !r.ok && r.error?.includes('HTTP 404'))).toBe(true)
      expect(inspectCli(id)?.State.Running).toBe(true)
    } finally {
      stop.abort()
      await monitoring
    }
  })
})

describe('clean-up', { timeout: 60_000 }, () => {
  it("deploy.cleanup removes a deployment's containers, then its image once no container uses it", async () => {
    const { Dockerfile = '', ...files } = httpApp('to clean')
    const data = await tarGz({ Dockerfile, ...files })
    await upload('upl_clean', data)
    const args = bench.args({ type: 'upload', upload_id: 'upl_clean', bytes: data.length })
    const status = await bench.deploy(args)
    expect(status.state).toBe('running')
    // The image of a deployment whose container runs stays.
    const kept = await bench.call('deploy.cleanup', { deployment_id: 'dep_other', image_tag: args.image_tag })
    expect(kept).toEqual({ containers: 0, image: false })
    const result = await bench.call('deploy.cleanup', {
      deployment_id: args.deployment_id,
      image_tag: args.image_tag,
    })
    expect(result).toEqual({ containers: 1, image: true })
    expect(inspectCli(status.containers?.[0] ?? '')).toBeNull()
    expect(dockerCli('images', '-q', args.image_tag)).toBe('')
  })

  it("app.remove closes the app's proxy and removes its containers and the volumes named", async () => {
    const volume = bench.volume()
    const status = await bench.deploy(
      bench.args(
        { type: 'image', image: uploadedImage },
        { run: { host_port: uploadedPort, volumes: [{ volume, target: '/data' }] } },
      ),
    )
    expect(status.state).toBe('running')
    expect(inspectCli(status.containers?.[0] ?? '')?.Mounts).toContainEqual(
      expect.objectContaining({ Type: 'volume', Name: volume, Destination: '/data' }),
    )
    const removed = await bench.call('app.remove', { app_id: bench.appId, volumes: [volume] })
    expect(removed.containers).toBeGreaterThanOrEqual(1)
    expect(bench.containers()).toEqual([])
    await expect(get(uploadedPort)).rejects.toThrow()
    expect(dockerCli('volume', 'ls', '-q', '--filter', `name=${volume}`)).toBe('')
  })
})
