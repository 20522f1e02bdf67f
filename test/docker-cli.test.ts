import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type DockerServer, runProgram, startDockerServer } from './support/berth-docker.ts'
import { CLI_BUNDLE, startBerth } from './support/cli.ts'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { waitFor } from './support/process.ts'
import { onTerminal, type Reply } from './support/pty.ts'

// The real `docker` client from PATH through `berth docker SERVER -- ARGS`: each of its
// connections a tunnel through the API and the agent to the Engine.

const run = Math.random().toString(36).slice(2, 7)
const prefix = `t${run}-dk`
const SERVER = 'docker-cli'
let host: DockerServer
const made: string[] = []

beforeAll(async () => {
  host = await startDockerServer(SERVER)
})

afterAll(async () => {
  removeContainers(made)
  try {
    docker('image', 'rm', '-f', `${prefix}-build:1`)
  } catch {
    // not built
  }
  await host?.stop()
})

/** `docker …args` through `berth docker`, no terminal. */
const throughBerth = (args: string[], input?: string, env: Record<string, string> = {}) =>
  runProgram(process.execPath, [CLI_BUNDLE, 'docker', SERVER, '--', ...args], { ...host.env, ...env }, input)

/** `docker …args` through `berth docker` on a pseudo-terminal, doing each reply once its prompt shows. */
const underPty = (args: string[], replies: [string, Reply][]) =>
  onTerminal([process.execPath, CLI_BUNDLE, 'docker', SERVER, '--', ...args], replies, host.env, {
    rows: 24,
    cols: 80,
  })

/** A container left running (a tick a second), started directly on the Engine. */
function ticking(name: string): string {
  const id = docker(
    'run',
    '-d',
    '--name',
    `${prefix}-${name}`,
    TEST_IMAGE,
    'sh',
    '-c',
    'while true; do echo tick; sleep 1; done',
  )
  made.push(id)
  return `${prefix}-${name}`
}

describe('berth docker SERVER -- ARGS', () => {
  test('version negotiates the API version and shows the server that Berth reaches', async () => {
    const direct = JSON.parse(docker('version', '--format', '{{json .}}'))
    const res = await throughBerth(['version', '--format', '{{json .}}'])
    expect(res.code, res.stderr).toBe(0)
    const through = JSON.parse(res.stdout)
    expect(through.Server.Version).toBe(direct.Server.Version)
    expect(through.Server.ApiVersion).toBe(direct.Server.ApiVersion)
    // The client came down to the Engine's API version, as it does on the Engine's own socket.
    expect(through.Client.ApiVersion).toBe(direct.Server.ApiVersion)
  })

  test('ps lists a container running on the server', async () => {
    const name = ticking('ps')
    const res = await throughBerth(['ps', '--filter', `name=${name}`, '--format', '{{.Names}} {{.Status}}'])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toMatch(new RegExp(`^${name} Up`))
  })

  test('run --rm prints the output and ends with the exit code of the container', async () => {
    const ok = await throughBerth(['run', '--rm', TEST_IMAGE, 'echo', 'hello through berth'])
    expect(ok).toMatchObject({ code: 0, stdout: 'hello through berth\n' })
    const failed = await throughBerth(['run', '--rm', TEST_IMAGE, 'sh', '-c', 'echo err >&2; exit 3'])
    expect(failed).toMatchObject({ code: 3, stdout: '', stderr: 'err\n' })
  })

  test('run -i sends stdin and its end, and the output comes back after it', async () => {
    const res = await throughBerth(['run', '--rm', '-i', TEST_IMAGE, 'sh', '-c', 'cat; echo done'], 'piped\n')
    expect(res).toMatchObject({ code: 0, stdout: 'piped\ndone\n' })
  })

  test('run -it under a terminal takes what is typed and exits with its code', async () => {
    const { code, output } = await underPty(
      ['run', '--rm', '-it', '--name', `${prefix}-it`, TEST_IMAGE, 'sh'],
      [['# ', 'echo "got $((3 + 4))"; exit 7']],
    )
    expect(output).toContain('got 7')
    expect(code).toBe(7)
  })

  test('logs -f follows until Ctrl-C, which ends docker and berth with it', async () => {
    const name = ticking('logs')
    const { code, output } = await underPty(['logs', '-f', name], [['tick\r\ntick', { keys: '\u0003' }]])
    expect(output).toMatch(/^(tick\r\n)+/)
    // docker died of SIGINT; berth lived to end with its code (a berth killed by it would show -2).
    expect(code).toBe(130)
  })

  test('exec -it runs a shell in a running container', async () => {
    const name = ticking('exec')
    const { code, output } = await underPty(
      ['exec', '-it', name, 'sh'],
      [['# ', 'echo "in $((40 + 2))"; exit 4']],
    )
    expect(output).toContain('in 42')
    expect(code).toBe(4)
  })

  test('cp copies a file into a container and back out, byte for byte', async () => {
    const name = ticking('cp')
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-cp-`))
    // Larger than the tunnel's window each way, so credit has to come back for it to finish.
    const data = randomBytes(9 * 1024 * 1024)
    writeFileSync(join(dir, 'in.bin'), data)
    const sent = await throughBerth(['cp', join(dir, 'in.bin'), `${name}:/tmp/in.bin`])
    expect(sent.code, sent.stderr).toBe(0)
    const inside = await throughBerth(['exec', name, 'md5sum', '/tmp/in.bin'])
    expect(inside.stdout.split(' ')[0]).toBe(createHash('md5').update(data).digest('hex'))
    const back = await throughBerth(['cp', `${name}:/tmp/in.bin`, join(dir, 'out.bin')])
    expect(back.code, back.stderr).toBe(0)
    expect(readFileSync(join(dir, 'out.bin')).equals(data)).toBe(true)
  })

  test('build makes an image from a small context with the classic builder', async () => {
    const dir = mkdtempSync(join(tmpdir(), `${prefix}-build-`))
    writeFileSync(join(dir, 'message.txt'), 'built through berth\n')
    writeFileSync(
      join(dir, 'Dockerfile'),
      `FROM ${TEST_IMAGE}\nCOPY message.txt /message.txt\nCMD ["cat", "/message.txt"]\n`,
    )
    const built = await throughBerth(['build', '-t', `${prefix}-build:1`, dir], '', { DOCKER_BUILDKIT: '0' })
    expect(built.code, built.stderr).toBe(0)
    expect(built.stdout).toContain(`Successfully tagged ${prefix}-build:1`)
    const res = await throughBerth(['run', '--rm', `${prefix}-build:1`])
    expect(res).toMatchObject({ code: 0, stdout: 'built through berth\n' })
  })

  test('pull from a registry that is not there fails with the Engine’s reason', async () => {
    const res = await throughBerth(['pull', `127.0.0.1:9/${prefix}/nothing:1`])
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(/Error response from daemon: .*127\.0\.0\.1:9.*connection refused/)
  })

  test('events shows a container starting while it follows, until docker is stopped', async () => {
    const name = `${prefix}-events`
    const since = String(Math.floor(Date.now() / 1000) - 1)
    const filters = [
      '--filter',
      `container=${name}`,
      '--filter',
      'event=start',
      '--format',
      '{{.Action}} {{.Actor.Attributes.name}}',
    ]
    const child = startBerth(['docker', SERVER, '--', 'events', '--since', since, ...filters], {
      env: host.env,
    })
    made.push(docker('run', '-d', '--name', name, TEST_IMAGE, 'sleep', '30'))
    await waitFor('the start event', () => child.output.includes(`start ${name}`))
    // berth hands SIGTERM on to docker and ends with docker's code.
    child.proc.kill('SIGTERM')
    expect(await child.exited).toBe(143)
  })
})

describe('berth docker before docker runs', () => {
  test('an unknown server ends with exit code 4 and docker never runs', async () => {
    const res = await runProgram(
      process.execPath,
      [CLI_BUNDLE, 'docker', `${prefix}-none`, '--', 'version'],
      host.env,
    )
    expect(res.code).toBe(4)
    expect(res.stdout).toBe('')
    expect(res.stderr).toBe(`berth: no server named ${prefix}-none (not_found)\n`)
  })

  test('a server whose agent is offline ends with the API’s 503 at once', async () => {
    const created = await host.api.http.post('/servers', {
      token: host.admin,
      body: { name: `${prefix}-off` },
    })
    expect(created.status, created.text).toBe(201)
    const res = await runProgram(
      process.execPath,
      [CLI_BUNDLE, 'docker', `${prefix}-off`, '--', 'version'],
      host.env,
    )
    expect(res.code).toBe(1)
    expect(res.stdout).toBe('')
    expect(res.stderr).toMatch(/^berth: .+ \(agent_offline, request req_\w+\)\n$/)
  })
})
