import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { loadAll } from '../packages/cli/src/commands/index.ts'
import { berth, CLI_BUNDLE, configHome } from './support/cli.ts'
import { ADMIN, registerAdmin } from './support/flows.ts'
import { onTerminal } from './support/pty.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// The bundled CLI as a user runs it: logging in, profiles, exit codes, help and completion.

let api: ApiTarget
let admin: string
const xdg = configHome()
const asUser = { env: { XDG_CONFIG_HOME: xdg } }

/** One line on stderr in the documented form: `berth: <message> (<code>, request <id>)`. */
const ONE_ERROR_LINE = /^berth: [^\n]+ \([a-z_]+, request req_[0-9a-z]+\)\n$/

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
})

afterAll(async () => {
  await api?.stop()
})

describe('login and profiles', () => {
  test('login with a password from stdin saves a profile only its owner can read', async () => {
    const login = await berth(['login', api.url, '--email', ADMIN.email, '--password-stdin'], {
      ...asUser,
      input: `${ADMIN.password}\n`,
    })
    expect(login.code, login.stderr).toBe(0)
    expect(login.stdout).toContain(`Logged in to ${api.url} as ${ADMIN.email} (profile default)`)

    const file = join(xdg, 'berth', 'config.json')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(statSync(join(xdg, 'berth')).mode & 0o777).toBe(0o700)
    const config = JSON.parse(readFileSync(file, 'utf8'))
    expect(config.default).toBe('default')
    expect(config.profiles.default.url).toBe(api.url)

    const whoami = await berth(['whoami', '--json'], asUser)
    expect(whoami.code, whoami.stderr).toBe(0)
    expect(whoami.json()).toMatchObject({
      user: { email: ADMIN.email, role: 'admin' },
      auth: { type: 'session' },
    })
  })

  test('login --token saves a named profile, by its origin, that --profile then uses', async () => {
    const home = configHome()
    const login = await berth(
      ['login', `${api.url}/api/v1/`, '--token', admin, '--profile', 'ci', '--json'],
      {
        env: { XDG_CONFIG_HOME: home },
      },
    )
    expect(login.code, login.stderr).toBe(0)
    expect(login.json()).toMatchObject({ profile: 'ci', url: api.url, user: { email: ADMIN.email } })
    const open = await berth(['open', '--profile', 'ci', '--json'], { env: { XDG_CONFIG_HOME: home } })
    expect(open.json()).toEqual({ url: `${api.url}/` })
    const other = await berth(['whoami', '--profile', 'staging'], { env: { XDG_CONFIG_HOME: home } })
    expect(other.code).toBe(3)
    expect(other.stderr).toBe(
      'berth: no profile named staging: run `berth login URL --profile staging` (not_logged_in)\n',
    )
  })

  test('a config file that is not JSON is named in one line', async () => {
    const home = configHome()
    mkdirSync(join(home, 'berth'))
    writeFileSync(join(home, 'berth', 'config.json'), '{ not json')
    const run = await berth(['whoami'], { env: { XDG_CONFIG_HOME: home } })
    expect(run.code).toBe(1)
    expect(run.stderr).toBe(
      `berth: ${join(home, 'berth', 'config.json')} is not valid JSON: fix it, or remove it and log in again\n`,
    )
  })

  test('a login whose token the API refuses saves nothing and exits 3', async () => {
    const home = configHome()
    const login = await berth(['login', api.url, '--token', 'brt_not-a-token'], {
      env: { XDG_CONFIG_HOME: home },
    })
    expect(login.code).toBe(3)
    expect(login.stderr).toMatch(ONE_ERROR_LINE)
    expect(() => statSync(join(home, 'berth', 'config.json'))).toThrow()
  })

  test('logout forgets the profile, after which commands ask for a login', async () => {
    const home = { env: { XDG_CONFIG_HOME: configHome() } }
    expect((await berth(['login', api.url, '--token', admin], home)).code).toBe(0)
    const logout = await berth(['logout', '--json'], home)
    expect(logout.json()).toEqual({ profile: 'default', removed: true })
    const whoami = await berth(['whoami'], home)
    expect(whoami.code).toBe(3)
    expect(whoami.stderr).toBe(
      'berth: not logged in: run `berth login URL`, or set BERTH_URL and BERTH_TOKEN (not_logged_in)\n',
    )
  })

  test('BERTH_URL and BERTH_TOKEN work without any profile', async () => {
    const env = { XDG_CONFIG_HOME: configHome(), BERTH_URL: api.url, BERTH_TOKEN: admin }
    const whoami = await berth(['whoami', '--json'], { env })
    expect(whoami.code, whoami.stderr).toBe(0)
    expect(whoami.json().user.email).toBe(ADMIN.email)
  })

  test('a wrong token exits 3 with one line naming the code and request', async () => {
    const env = { XDG_CONFIG_HOME: configHome(), BERTH_URL: api.url, BERTH_TOKEN: 'wrong' }
    const run = await berth(['servers', 'ls'], { env })
    expect(run.code).toBe(3)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(ONE_ERROR_LINE)
  })

  test('an API that does not answer exits 1 with one line', async () => {
    const env = { XDG_CONFIG_HOME: configHome(), BERTH_URL: 'http://127.0.0.1:9', BERTH_TOKEN: admin }
    const run = await berth(['whoami'], { env })
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^berth: the API could not be reached: [^\n]+ \(unreachable\)\n$/)
  })
})

/** The terminal's control sequences (readline's redraws, colours), for reading what it showed. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: every terminal sequence starts with ESC
const CONTROL = /\u001b\[[0-9;]*[A-Za-z]/g

describe('on a terminal', () => {
  const home = {
    XDG_CONFIG_HOME: configHome(),
    BERTH_URL: undefined,
    BERTH_TOKEN: undefined,
    NO_COLOR: undefined,
  }

  test('login asks for the email and the password, and does not echo the password', async () => {
    const login = await onTerminal(
      [process.execPath, CLI_BUNDLE, 'login', api.url],
      [
        ['Email: ', ADMIN.email],
        ['Password: ', ADMIN.password],
      ],
      home,
    )
    expect(login.code, login.output).toBe(0)
    const shown = login.output.replace(CONTROL, '')
    expect(shown).toContain(`Email: ${ADMIN.email}`)
    expect(shown).not.toContain(ADMIN.password)
    expect(shown).toContain(`Logged in to ${api.url} as ${ADMIN.email}`)
    const profile = JSON.parse(readFileSync(join(home.XDG_CONFIG_HOME, 'berth', 'config.json'), 'utf8'))
    expect(profile.profiles.default.url).toBe(api.url)
  })

  test('colour shows on a terminal, and not with NO_COLOR', async () => {
    const env = { ...home, BERTH_URL: api.url, BERTH_TOKEN: admin }
    const coloured = await onTerminal([process.execPath, CLI_BUNDLE, 'servers', 'ls'], [], env)
    expect(coloured.code, coloured.output).toBe(0)
    expect(coloured.output).toContain('\u001b[')
    const plain = await onTerminal([process.execPath, CLI_BUNDLE, 'servers', 'ls'], [], {
      ...env,
      NO_COLOR: '1',
    })
    expect(plain.output).toContain('no servers yet')
    expect(plain.output).not.toContain('\u001b[')
    const piped = await berth(['servers', 'ls'], { env })
    expect(piped.stdout).toBe('no servers yet: berth servers add NAME\n')
  })
})

describe('usage', () => {
  test('a missing argument exits 2 with the usage', async () => {
    const run = await berth(['containers', 'run', 'web-1'], asUser)
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(
      'berth: missing IMAGE\nusage: berth containers run SERVER IMAGE [CMD...] [options] (see berth containers run --help)\n',
    )
  })

  test('an unknown option or command exits 2', async () => {
    const option = await berth(['servers', 'ls', '--bogus'], asUser)
    expect(option.code).toBe(2)
    expect(option.stderr).toMatch(/^berth: Unknown option '--bogus'\nusage: berth servers ls/)
    const command = await berth(['servers', 'frobnicate'], asUser)
    expect(command.code).toBe(2)
    expect(command.stderr).toMatch(/^berth: unknown command: berth servers frobnicate\n/)
  })

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync('packages/cli/package.json', 'utf8'))
    expect((await berth(['--version'])).stdout).toBe(`berth ${pkg.version}\n`)
  })

  test('--help lists every command, and each command shows its usage and examples', async () => {
    const commands = await loadAll()
    const overview = await berth(['--help'])
    expect(overview.code).toBe(0)
    for (const command of commands) expect(overview.stdout).toContain(`  ${command.name} `)
    for (const command of commands) {
      const help = await berth([...command.name.split(' '), '--help'])
      expect(help.code, command.name).toBe(0)
      expect(help.stdout).toContain(`Usage: berth ${command.name}`)
      expect(command.examples.length, command.name).toBeGreaterThan(0)
      for (const example of command.examples) expect(help.stdout).toContain(`  ${example}\n`)
    }
  })
})

describe('completion', () => {
  /** What bash offers after `berth <words>` and a word being typed, through the generated script. */
  function complete(words: string[], current: string): string[] {
    const script = `source <(node ${CLI_BUNDLE} completion bash)
complete -p berth
COMP_WORDS=(berth ${[...words, current].map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length + 1}
_berth; printf '%s\\n' "\${COMPREPLY[@]}"`
    return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).trim().split('\n')
  }

  test('bash registers berth and completes commands, subcommands and options', () => {
    const [registered, ...top] = complete([], '')
    expect(registered).toBe('complete -F _berth berth')
    expect(top).toEqual(expect.arrayContaining(['login', 'servers', 'containers', 'apps', 'completion']))
    expect(complete(['containers'], 'r').slice(1).sort()).toEqual(['restart', 'rm', 'run'])
    expect(complete(['--profile', 'ci', 'containers', 'run', 'web-1'], '--p').slice(1)).toEqual([
      '--port',
      '--profile',
    ])
  })

  test('zsh and fish scripts register berth; an unknown shell exits 2', async () => {
    const zsh = await berth(['completion', 'zsh'])
    expect(zsh.code).toBe(0)
    expect(zsh.stdout).toMatch(/^#compdef berth\n/)
    expect(zsh.stdout).toContain("'containers') choices=('ls' 'run' 'inspect'")
    const fish = await berth(['completion', 'fish'])
    expect(fish.stdout).toContain(
      "complete -c berth -n '__berth_at \\'containers\\'' -a run -d 'Create and start",
    )
    expect((await berth(['completion', 'tcsh'])).code).toBe(2)
  })
})

test('GET /api/v1/cli/download serves the bundle, which runs as downloaded', async () => {
  const res = await fetch(`${api.url}/api/v1/cli/download`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-disposition')).toBe('attachment; filename="berth.mjs"')
  const body = Buffer.from(await res.arrayBuffer())
  expect(body.equals(readFileSync(CLI_BUNDLE))).toBe(true)
  expect(body.subarray(0, 20).toString()).toBe('#!/usr/bin/env node\n')
})
