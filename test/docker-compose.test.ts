import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type DockerServer, keepEndpoint, runProgram, startDockerServer } from './support/berth-docker.ts'
import { CLI_BUNDLE, startBerth } from './support/cli.ts'
import { docker, TEST_IMAGE } from './support/docker.ts'
import { freePort, waitFor } from './support/process.ts'

// Debian's docker-compose (1.29) and the docker client against the sockets that
// `berth docker SERVER --socket PATH` and `--listen 127.0.0.1:PORT` keep open.

const run = Math.random().toString(36).slice(2, 7)
const project = `t${run}dkc`
const SERVER = 'docker-compose'
let host: DockerServer
const dir = mkdtempSync(join(tmpdir(), `${project}-`))

const COMPOSE = `version: "3.7"
services:
  web:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo web up; echo kept > /data/kept; httpd -f -p 8080 -h /www"]
    networks: [back]
    volumes: [data:/data]
  client:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "echo client up; while true; do wget -q -O- http://web:8080/; sleep 1; done"]
    networks: [back]
    depends_on: [web]
networks:
  back: {}
volumes:
  data: {}
`

beforeAll(async () => {
  host = await startDockerServer(SERVER)
})

afterAll(async () => {
  // Whatever a failed test left of the project, removed on the Engine's own socket.
  const label = `label=com.docker.compose.project=${project}`
  const ids = docker('ps', '-aq', '--filter', label).split('\n').filter(Boolean)
  if (ids.length > 0) docker('rm', '-f', '-v', ...ids)
  for (const kind of ['network', 'volume'] as const) {
    const names = docker(kind, 'ls', '-q', '--filter', label).split('\n').filter(Boolean)
    if (names.length > 0) docker(kind, 'rm', ...names)
  }
  await host?.stop()
})

const berthDocker = (args: string[]) =>
  runProgram(process.execPath, [CLI_BUNDLE, 'docker', SERVER, ...args], host.env)

describe('docker-compose through berth docker --socket', () => {
  test('up -d, ps, logs and down of a project with two services, a network and a volume', async () => {
    const socket = join(dir, 'compose.sock')
    const { child, dockerHost } = await keepEndpoint(host.env, SERVER, ['--socket', socket])
    expect(dockerHost).toBe(`unix://${socket}`)
    writeFileSync(join(dir, 'docker-compose.yml'), COMPOSE)
    const compose = (...args: string[]) =>
      runProgram('docker-compose', ['-p', project, '-f', join(dir, 'docker-compose.yml'), ...args], {
        DOCKER_HOST: dockerHost,
      })
    try {
      const up = await compose('up', '-d')
      expect(up.code, up.stderr).toBe(0)
      // What compose made is on the Engine, seen on its own socket.
      expect(docker('network', 'ls', '--format', '{{.Name}}')).toContain(`${project}_back`)
      expect(docker('volume', 'ls', '--format', '{{.Name}}')).toContain(`${project}_data`)

      const ps = await compose('ps')
      expect(ps.code, ps.stderr).toBe(0)
      expect(ps.stdout).toMatch(new RegExp(`${project}_web_1 .* Up`))
      expect(ps.stdout).toMatch(new RegExp(`${project}_client_1 .* Up`))

      // The client service reaches the web service by name over the project's network.
      await waitFor('the page in the client service’s log', async () => {
        const logs = await compose('logs', '--no-color', 'client')
        return logs.stdout.includes('berth test page')
      })
      const logs = await compose('logs', '--no-color')
      expect(logs.stdout).toContain('web up')
      expect(logs.stdout).toContain('client up')

      const down = await compose('down', '-v', '--timeout', '1')
      expect(down.code, down.stderr).toBe(0)
      const label = `label=com.docker.compose.project=${project}`
      expect(docker('ps', '-aq', '--filter', label)).toBe('')
      expect(docker('network', 'ls', '-q', '--filter', label)).toBe('')
      expect(docker('volume', 'ls', '-q', '--filter', label)).toBe('')
    } finally {
      child.proc.kill('SIGINT')
      expect(await child.exited).toBe(130)
    }
  })
})

describe('berth docker --socket', () => {
  test('prints DOCKER_HOST and the docker context line, makes the socket 0600 and removes it on Ctrl-C', async () => {
    const socket = join(dir, 'shown.sock')
    const child = (await keepEndpoint(host.env, SERVER, ['--socket', socket])).child
    expect(statSync(socket).mode & 0o777).toBe(0o600)
    const ps = await runProgram('docker', ['ps', '--format', '{{.ID}}'], { DOCKER_HOST: `unix://${socket}` })
    expect(ps.code, ps.stderr).toBe(0)
    child.proc.kill('SIGINT')
    expect(await child.exited).toBe(130)
    expect(existsSync(socket)).toBe(false)
  })

  test('without --json prints the lines to paste', async () => {
    const socket = join(dir, 'paste.sock')
    const child = startBerth(['docker', SERVER, '--socket', socket], {
      env: host.env,
    })
    await waitFor('the lines to paste', () => child.output.includes('docker context create'))
    expect(child.output).toContain(`export DOCKER_HOST=unix://${socket}\n`)
    expect(child.output).toContain(`docker context create berth-${SERVER} --docker host=unix://${socket}\n`)
    child.proc.kill('SIGINT')
    expect(await child.exited).toBe(130)
  })

  test('takes over a stale socket left behind', async () => {
    const stale = join(dir, 'stale.sock')
    // A socket file whose program is gone: bound by a process that ended without removing it.
    execFileSync('python3', [
      '-c',
      'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
      stale,
    ])
    expect(statSync(stale).isSocket()).toBe(true)
    const { child } = await keepEndpoint(host.env, SERVER, ['--socket', stale])
    const ps = await runProgram('docker', ['ps', '-q'], { DOCKER_HOST: `unix://${stale}` })
    expect(ps.code, ps.stderr).toBe(0)
    child.proc.kill('SIGINT')
    expect(await child.exited).toBe(130)
  })

  test('refuses a socket another program listens on, and a file', async () => {
    const busy = join(dir, 'busy.sock')
    const other = createServer().listen(busy)
    await once(other, 'listening')
    try {
      const live = await berthDocker(['--socket', busy])
      expect(live.code).toBe(1)
      expect(live.stderr).toBe(
        `berth: ${busy} is in use by a running program: stop it or name another path\n`,
      )
    } finally {
      other.close()
    }
    const file = join(dir, 'plain-file')
    writeFileSync(file, 'not a socket')
    const refused = await berthDocker(['--socket', file])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toBe(`berth: ${file} exists and is not a socket: name another path\n`)
    expect(readFileSync(file, 'utf8')).toBe('not a socket')
  })
})

describe('berth docker --listen', () => {
  test('serves docker on a loopback TCP port', async () => {
    const port = await freePort()
    const { child, dockerHost } = await keepEndpoint(host.env, SERVER, ['--listen', `127.0.0.1:${port}`])
    expect(dockerHost).toBe(`tcp://127.0.0.1:${port}`)
    const res = await runProgram('docker', ['run', '--rm', TEST_IMAGE, 'echo', 'over tcp'], {
      DOCKER_HOST: dockerHost,
    })
    expect(res).toMatchObject({ code: 0, stdout: 'over tcp\n' })
    child.proc.kill('SIGINT')
    expect(await child.exited).toBe(130)
  })

  test('refuses an address that is not loopback', async () => {
    const res = await berthDocker(['--listen', '0.0.0.0:2375'])
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/^berth: --listen 0\.0\.0\.0:2375 is not a loopback address/)
  })
})
