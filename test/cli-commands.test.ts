import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { berth, type CliOptions, configHome } from './support/cli.ts'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { registerAdmin, startServerWithAgent } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// Every command of the CLI's core once, run from the bundle against a real API, agent and Docker,
// with what its --json prints checked against what the API holds.

let api: ApiTarget
let serverName: string
let serverId: string
const agents: Child[] = []
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `c${run}-${what}`
let as: CliOptions
const CADDY = { kind: 'caddy', version: 'v2.6.2' }

/** `berth …args --json` as the admin, expecting exit 0; its JSON document. */
async function json(...args: string[]) {
  // Before the command's words, so that it is not taken for an argument after `--`.
  const result = await berth(['--json', ...args], as)
  expect(result.code, `berth ${args.join(' ')}: ${result.stderr}`).toBe(0)
  return result.json()
}

beforeAll(async () => {
  api = await startApi()
  const admin = await registerAdmin(api.http)
  serverName = name('host')
  const started = await startServerWithAgent(api, admin, serverName)
  agents.push(started.agent)
  serverId = started.serverId
  as = { env: { XDG_CONFIG_HOME: configHome(), BERTH_URL: api.url, BERTH_TOKEN: admin } }
})

afterAll(async () => {
  for (const agent of agents) await agent.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=c${run}-`).split('\n').filter(Boolean))
  await api?.stop()
})

describe('servers', () => {
  test('ls, validate and resources show the server by its name', async () => {
    const list = await json('servers', 'ls')
    expect(list.servers).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: serverId, name: serverName, status: 'online' })]),
    )
    expect((await json('servers', 'validate', serverName)).validation).toMatchObject({ ok: true })
    const { resources } = await json('servers', 'resources', serverName)
    expect(resources.cpus).toBeGreaterThan(0)
    expect(resources.memory.total).toBeGreaterThan(0)
  })

  test('add prints the agent commands and --wait ends once that agent runs them', async () => {
    const added = name('added')
    let printed = ''
    const child = berth(['servers', 'add', added, '--wait'], { ...as, onStdout: (out) => (printed = out) })
    // The token of the printed `node` command, as a user pasting it on the host would take it.
    const token = await waitFor(
      'the agent commands',
      () => /# node\n.*--token (berth_enr_\S+)/.exec(printed)?.[1],
    )
    agents.push(startAgentProcess({ api: api.url, token, stateDir: configHome() }))
    const done = await child
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout).toMatch(new RegExp(`^Server ${added} added \\(srv_\\w+\\)\\.\n`))
    expect(done.stdout).toContain('# docker\ndocker run -d --name berth-agent')
    expect(done.stdout).toMatch(new RegExp(`Server ${added} is online \\(.+\\)\\.\n$`))
    expect(done.stderr).toBe('Waiting for the agent to connect (Ctrl-C stops waiting)...\n')
  })

  test('add --json gives the enrollment, and rm removes the server', async () => {
    const created = await json('servers', 'add', name('gone'))
    expect(created.enrollment.commands.docker).toContain(created.enrollment.token)
    expect(await json('servers', 'rm', name('gone'))).toEqual({ id: created.server.id, removed: true })
    const missing = await berth(['servers', 'validate', name('gone')], as)
    expect(missing.code).toBe(4)
    expect(missing.stderr).toBe(`berth: no server named ${name('gone')} (not_found)\n`)
  })
})

describe('containers', () => {
  test('run, ls, inspect, stats, stop, start, restart and rm one container', async () => {
    const ctr = name('web')
    const created = await json(
      'containers',
      'run',
      serverName,
      TEST_IMAGE,
      '--name',
      ctr,
      '--env',
      'MODE=test',
      '--tag',
      'cli',
      '--port',
      '8080',
      '--',
      'httpd',
      '-f',
      '-p',
      '8080',
    )
    expect(created.container).toMatchObject({ name: ctr, status: 'running', tags: ['cli'] })
    expect(created.container.ports[0]).toMatchObject({ container: 8080, host: expect.any(Number) })

    const listed = await json('containers', 'ls', serverName, '--tag', 'cli')
    expect(listed.containers.map((c: { name: string }) => c.name)).toEqual([ctr])
    const { container } = await json('containers', 'inspect', serverName, ctr)
    expect(container.env.MODE).toBe('test')
    expect(container.cmd).toEqual(['httpd', '-f', '-p', '8080'])
    expect((await json('containers', 'stats', serverName, ctr)).stats.memory.used).toBeGreaterThan(0)

    expect((await json('containers', 'stop', serverName, ctr, '--timeout', '0')).container.status).toBe(
      'exited',
    )
    expect(docker('inspect', '-f', '{{.State.Running}}', ctr)).toBe('false')
    expect((await json('containers', 'start', serverName, ctr)).container.status).toBe('running')
    expect((await json('containers', 'restart', serverName, ctr, '--timeout', '0')).container.status).toBe(
      'running',
    )
    expect(await json('containers', 'rm', serverName, ctr, '--force')).toMatchObject({ removed: true })

    const gone = await berth(['containers', 'inspect', serverName, ctr], as)
    expect(gone.code).toBe(4)
    expect(gone.stderr).toMatch(/^berth: [^\n]+ \(not_found, request req_[0-9a-z]+\)\n$/)
  })

  test('a bad --port is a usage error and creates nothing', async () => {
    const bad = await berth(
      ['containers', 'run', serverName, TEST_IMAGE, '--name', name('bad'), '--port', 'x:80'],
      as,
    )
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^berth: --port must be CONTAINER\[:HOST\]\[\/udp\], not x:80\n/)
    expect(docker('ps', '-aq', '--filter', `name=${name('bad')}`)).toBe('')
  })
})

describe('apps, env and domains', () => {
  test('create, ls, info, env set/ls/unset, domains add/ls/rm and rm an app', async () => {
    const app = name('app')
    const created = await json(
      'apps',
      'create',
      app,
      '--server',
      serverName,
      '--image',
      TEST_IMAGE,
      '--port',
      '80',
    )
    expect(created.app).toMatchObject({
      name: app,
      server_id: serverId,
      source: { type: 'image', image: TEST_IMAGE },
    })
    const id = created.app.id
    expect(
      (await json('apps', 'ls', '--server', serverName)).apps.map((a: { id: string }) => a.id),
    ).toContain(id)
    expect((await json('apps', 'info', app)).app).toMatchObject({ id, port: 80, status: null })

    const set = await json('env', 'set', '--app', app, 'A=1', 'B=two words')
    expect(set.env.map((e: { key: string }) => e.key)).toEqual(['A', 'B'])
    const revealed = await json('env', 'ls', '--app', app, '--reveal')
    expect(revealed.env.map((e: { key: string; value: string }) => [e.key, e.value])).toEqual([
      ['A', '1'],
      ['B', 'two words'],
    ])
    expect((await json('env', 'unset', '--app', id, 'A')).env.map((e: { key: string }) => e.key)).toEqual([
      'B',
    ])

    // The agent here drives no Caddy, which a domain needs: its report of one is written in.
    await api.sql('update servers set proxy = ? where id = ?', [JSON.stringify(CADDY), serverId])
    const hostname = `${app}.example.test`
    const domain = await json('domains', 'add', hostname, '--app', app, '--https', 'off')
    expect(domain.domain).toMatchObject({ hostname, https: 'off', app_id: id })
    const domains = await json('domains', 'ls', '--app', app)
    expect(domains.domains.map((d: { hostname: string }) => d.hostname)).toContain(hostname)
    expect(await json('domains', 'rm', hostname, '--app', app)).toEqual({
      id: domain.domain.id,
      removed: true,
    })

    expect(await json('apps', 'rm', app)).toEqual({ id, removed: true })
    const gone = await berth(['apps', 'info', app], as)
    expect(gone.code).toBe(4)
  })

  test('apps create without one source is a usage error', async () => {
    const none = await berth(['apps', 'create', name('nosrc'), '--server', serverName], as)
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/^berth: give one source: --image IMAGE, --git URL or --upload\n/)
  })
})

describe('tokens and users', () => {
  test('tokens create prints the value once, which then works; ls and rm', async () => {
    const created = await json('tokens', 'create', name('ci'), '--scope', 'read')
    expect(created.token).toMatchObject({ name: name('ci'), scopes: ['read'], value: expect.any(String) })
    const withIt = { env: { ...as.env, BERTH_TOKEN: created.token.value } }
    const whoami = await berth(['whoami', '--json'], withIt)
    expect(whoami.json().auth).toMatchObject({ type: 'token', token_id: created.token.id })
    expect((await json('tokens', 'ls')).tokens.map((t: { id: string }) => t.id)).toContain(created.token.id)
    expect(await json('tokens', 'rm', created.token.id)).toEqual({ id: created.token.id, removed: true })
    expect((await berth(['whoami'], withIt)).code).toBe(3)
  })

  test('tokens create --scope docker --server takes the server by name and shows its id', async () => {
    const created = await json('tokens', 'create', name('dock'), '--scope', 'docker', '--server', serverName)
    expect(created.token).toMatchObject({ scopes: ['docker'], docker_servers: [serverId] })
    const listed = (await json('tokens', 'ls')).tokens.find((t: { id: string }) => t.id === created.token.id)
    expect(listed.docker_servers).toEqual([serverId])
    const table = await berth(['tokens', 'ls'], as)
    expect(table.stdout).toMatch(new RegExp(`${name('dock')}.*${serverId}`))
  })

  test('tokens create with --scope docker and no --server, or --server alone, is a usage error', async () => {
    const bare = await berth(['tokens', 'create', name('bare'), '--scope', 'docker'], as)
    expect(bare.code).toBe(2)
    expect(bare.stderr).toMatch(/^berth: --scope docker needs the --server it opens\n/)
    const alone = await berth(['tokens', 'create', name('alone'), '--server', serverName], as)
    expect(alone.code).toBe(2)
    expect(alone.stderr).toMatch(/^berth: --server goes with --scope docker\n/)
  })

  test('users create with a password from stdin, ls and rm by email', async () => {
    const email = `${name('ana')}@example.com`
    const created = await json('users', 'create', email, '--role', 'viewer', '--password-stdin').catch(
      () => null,
    )
    expect(created).toBeNull()
    const made = await berth(['users', 'create', email, '--role', 'viewer', '--password-stdin', '--json'], {
      ...as,
      input: 'a long enough password\n',
    })
    expect(made.code, made.stderr).toBe(0)
    expect(made.json().user).toMatchObject({ email, role: 'viewer' })
    expect((await json('users', 'ls')).users.map((u: { email: string }) => u.email)).toContain(email)
    expect(await json('users', 'rm', email)).toEqual({ id: made.json().user.id, removed: true })
  })
})
