import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { appHost } from './support/apps.ts'
import { berth, ciEnv, startBerth } from './support/cli.ts'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { waitFor } from './support/process.ts'

// `berth deploy`, `rollback`, `cancel` and `logs`: the real CLI bundle against a real API, agent
// and Docker Engine, deploying folders packed here and images built here.

const host = appHost()
const cli = (args: string[]) => berth(args, { env: ciEnv(host.api.url, host.admin) })
const serve = `CMD ["sh", "-c", "echo serving; trap 'exit 0' TERM; httpd -f -p 3000 -h /www & wait"]`

/** A folder with these files in the work folder. */
function folder(name: string, files: Record<string, string>): string {
  const dir = join(host.work, name)
  mkdirSync(dir, { recursive: true })
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content)
  return dir
}

const uploadApp = (what: string) => host.createApp({ name: host.appName(what), source: { type: 'upload' } })

/** The URL the last line of a finished deploy names. */
function urlOf(stdout: string): string {
  const last = stdout.trimEnd().split('\n').at(-1) ?? ''
  const match = last.match(/^✓ (http:\/\/\S+) is running \(dep_\w+, [\d.]+m?s\)$/)
  expect(match, stdout).not.toBeNull()
  return match![1]!
}

describe('berth deploy --dir', () => {
  test('packs the folder without what .dockerignore names, and serves it at the URL it prints', async () => {
    const app = await uploadApp('dir')
    const dir = folder('site', {
      Dockerfile: `FROM ${TEST_IMAGE}\nCOPY . /www/\n${serve}\n`,
      'index.html': 'hello from a folder\n',
      'secret.txt': 'never shipped\n',
      '.dockerignore': 'secret.txt\n',
    })
    const res = await cli(['deploy', app.name, '--dir', dir, '--wait'])
    expect(res.code, res.stderr).toBe(0)
    // Progress on stderr; not a TTY, so each stage is a plain line with the build log between them.
    expect(res.stderr).toMatch(/^packed .+: \d+ entries, .+\nuploaded .+ in .+\n/)
    expect(res.stderr).toMatch(/==> queued[\s\S]*==> building[\s\S]*built berth\/[\s\S]*==> health/)
    expect(res.stdout.split('\n')).toHaveLength(2)
    const url = urlOf(res.stdout)
    expect(await (await fetch(url)).text()).toBe('hello from a folder\n')
    expect((await fetch(`${url}/secret.txt`)).status).toBe(404)
    expect((await fetch(`${url}/Dockerfile`)).status).toBe(200)
  })

  test('a failing build exits 1 with the reason', async () => {
    const app = await uploadApp('broken')
    const dir = folder('broken', { Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo about to fail && exit 3\n` })
    const res = await cli(['deploy', app.name, '--dir', dir, '--wait'])
    expect(res.code).toBe(1)
    expect(res.stdout).toBe('')
    expect(res.stderr).toContain('about to fail')
    expect(res.stderr).toMatch(/✗ deployment dep_\w+ failed after/)
    expect(res.stderr).toMatch(/berth: deployment dep_\w+ failed: .*(exit|non-zero|returned).*\n$/)
  })
})

describe('berth deploy --image', () => {
  const image = `berth/${host.appName('img')}:1`
  afterAll(() => docker('rmi', '-f', image))

  test('--json prints the events as JSON lines, then the deployment and its URL', async () => {
    const context = folder('image', {
      Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo from an image > /www/index.html\n${serve}\n`,
    })
    docker('build', '-q', '-t', image, context)
    const app = await host.createApp({
      name: host.appName('img'),
      source: { type: 'image', image: TEST_IMAGE },
    })
    const res = await cli(['deploy', app.name, '--image', image, '--wait', '--json'])
    expect(res.code, res.stderr).toBe(0)
    const lines = res.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    const last = lines.at(-1)
    expect(last.deployment).toMatchObject({ app_id: app.id, state: 'running', image })
    expect(lines.slice(0, -1).map((l) => l.event)).toEqual(expect.arrayContaining(['log', 'state', 'end']))
    expect(await (await fetch(last.url)).text()).toBe('from an image\n')
  })
})

describe('berth logs, rollback and cancel', () => {
  test('logs -f follows the app until Ctrl-C, which ends it with 130', async () => {
    const app = await uploadApp('logs')
    const dir = folder('logs', { Dockerfile: `FROM ${TEST_IMAGE}\n${serve}\n` })
    const deployed = await cli(['deploy', app.name, '--dir', dir, '--wait'])
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0)
    const child = startBerth(['logs', app.name, '-f'], { env: ciEnv(host.api.url, host.admin) })
    await waitFor(
      'the app to be followed',
      () => child.output.includes('serving') || (!child.running && child.output),
    )
    child.proc.kill('SIGINT')
    expect(await child.exited, child.output).toBe(130)
    expect(child.output).toBe('serving\n')
  })

  test('rollback deploys the previous image again; cancel of a finished deployment exits 1', async () => {
    const app = await uploadApp('back')
    const v = (n: number) =>
      folder(`back${n}`, {
        Dockerfile: `FROM ${TEST_IMAGE}\nRUN echo v${n} > /www/index.html\n${serve}\n`,
      })
    const first = await cli(['deploy', app.name, '--dir', v(1), '--wait'])
    expect((await cli(['deploy', app.name, '--dir', v(2), '--wait'])).code).toBe(0)
    const res = await cli(['rollback', app.name, '--wait'])
    expect(res.code, res.stderr).toBe(0)
    expect(await (await fetch(urlOf(res.stdout))).text()).toBe('v1\n')
    const id = urlOf(first.stdout) && first.stdout.match(/\((dep_\w+),/)![1]!
    const cancel = await cli(['cancel', id])
    expect(cancel.code).toBe(1)
    expect(cancel.stderr).toMatch(/^berth: .+ \(deployment_finished, request req_\w+\)\n$/)
  })

  test('deploy without --wait prints the queued deployment; --json as one document', async () => {
    const app = await uploadApp('nowait')
    const dir = folder('nowait', { Dockerfile: `FROM ${TEST_IMAGE}\n${serve}\n` })
    const res = await cli(['deploy', app.name, '--dir', dir, '--json'])
    expect(res.code, res.stderr).toBe(0)
    const { deployment } = res.json()
    expect(deployment).toMatchObject({ app_id: app.id, state: 'queued' })
    expect((await host.waitDeployment(deployment.id)).state).toBe('running')
  })
})
