import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { createUser, registerAdmin, startServerWithAgent } from './support/flows.ts'
import type { Child } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// The test image has no git, so these flows run the host's git in a container given the container's mounts.

let api: ApiTarget
let admin: string
let viewer: { token: string }
let serverId: string
let agent: Child
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-${what}`
const work = mkdtempSync(join(os.tmpdir(), 'berth-git-'))
/**
 * A bare repository in a second volume of the container, at /remote: the checkout's remote. A
 * volume, not a host folder: a container with a host folder bound in is for admins only.
 */
let remote: string
/** A bare repository on no mount of the container. */
const stray = join(work, 'stray.git')

/** The host's git, as a person working on the repository beside Berth would use it. */
function hostGit(...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Tester', '-c', 'user.email=tester@example.com', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  }).trim()
}

/** The test image with the host's git binary and the libraries it loads: a container with git of its own. */
const GIT_IMAGE = `berth-test/git:${run}`

function buildGitImage(): void {
  const context = join(work, 'git-image')
  const libraries = [...execFileSync('ldd', ['/usr/bin/git'], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)]
  // The image's PATH is /bin.
  const files = [['/usr/bin/git', '/bin/git'], ...libraries.map((m) => [m[1]!, m[1]!])] as const
  for (const [from, to] of files) {
    mkdirSync(dirname(join(context, 'root', to)), { recursive: true })
    copyFileSync(from, join(context, 'root', to))
  }
  writeFileSync(join(context, 'Dockerfile'), `FROM ${TEST_IMAGE}\nCOPY root/ /\n`)
  execFileSync('docker', ['build', '--quiet', '-t', GIT_IMAGE, context], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  })
}

let containerId: string
/** The volume's directory on the host, where the checkout at /repo lives. */
let checkout: string

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  viewer = await createUser(api.http, admin, 'viewer')
  ;({ serverId, agent } = await startServerWithAgent(api, admin, 'git-host'))
  docker('volume', 'create', name('remote'))
  remote = join(JSON.parse(docker('volume', 'inspect', name('remote')))[0].Mountpoint, 'origin.git')
  hostGit('init', '--quiet', '--bare', remote)
  hostGit('init', '--quiet', '--bare', stray)
  docker('volume', 'create', name('repo'))
  checkout = JSON.parse(docker('volume', 'inspect', name('repo')))[0].Mountpoint
  const created = await api.http.post(`/servers/${serverId}/containers`, {
    token: admin,
    body: {
      image: TEST_IMAGE,
      name: name('app'),
      cmd: ['sleep', '3600'],
      working_dir: '/repo',
      volumes: [
        { source: name('repo'), target: '/repo' },
        { source: name('remote'), target: '/remote' },
      ],
    },
  })
  expect(created.status, created.text).toBe(201)
  containerId = created.body.container.id
})

afterAll(async () => {
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-`).split('\n').filter(Boolean))
  try {
    docker('volume', 'rm', '-f', name('repo'), name('remote'))
  } catch {
    // already gone
  }
  try {
    docker('image', 'rm', '-f', GIT_IMAGE)
  } catch {
    // never built
  }
  rmSync(work, { recursive: true, force: true })
  await api?.stop()
})

const gitPath = (action: string, query = '') =>
  `/servers/${serverId}/containers/${containerId}/git/${action}${query}`
const get = async (action: string, token = admin, query = '') =>
  api.http.get(gitPath(action, query), { token })
const post = async (action: string, body?: unknown, token = admin, query = '') =>
  api.http.post(gitPath(action, query), { token, body })

async function ok(reply: Promise<{ status: number; text: string; body: any }>) {
  const res = await reply
  expect(res.status, res.text).toBe(200)
  return res.body.git
}

describe('git in a container without git of its own', () => {
  let initial: string

  test('init makes a repository in the volume; head, branch and branches read it', async () => {
    const init = await ok(post('init'))
    expect(init).toMatchObject({ via: 'host', exit_code: 0 })
    expect(init.stdout).toContain('Initialized empty Git repository')
    expect(hostGit('-C', checkout, 'rev-parse', '--is-inside-work-tree')).toBe('true')

    initial = (await ok(get('branch'))).name
    expect(initial).toMatch(/^(master|main)$/)

    // A repository without a commit has no head: git says so.
    const empty = await get('head')
    expect(empty.status, empty.text).toBe(422)
    expect(empty.body).toMatchObject({ error: 'state_error', code: 'git_failed' })

    hostGit('-C', checkout, 'commit', '--quiet', '--allow-empty', '-m', 'First commit')
    const head = await ok(get('head'))
    expect(head).toMatchObject({
      via: 'host',
      sha: hostGit('-C', checkout, 'rev-parse', 'HEAD'),
      subject: 'First commit',
    })
    // The same through an explicit path, read by a viewer.
    expect((await ok(get('head', viewer.token, '?path=/repo'))).subject).toBe('First commit')

    expect(await ok(get('branches'))).toMatchObject({ local: [initial], remote: [] })
  })

  test('checkout switches to an existing branch and makes a new one', async () => {
    const created = await ok(post('checkout', { branch: 'feature/login', create: true }))
    expect(created.exit_code).toBe(0)
    expect((await ok(get('branch'))).name).toBe('feature/login')
    expect(hostGit('-C', checkout, 'symbolic-ref', '--short', 'HEAD')).toBe('feature/login')

    await ok(post('checkout', { branch: initial }))
    expect((await ok(get('branch'))).name).toBe(initial)
    expect((await ok(get('branches'))).local.sort()).toEqual(['feature/login', initial].sort())
  })

  test('pull fast-forwards from a remote on one of the container’s mounts', async () => {
    // The remote as the container sees it, on its /remote mount.
    hostGit('-C', checkout, 'remote', 'add', 'origin', 'file:///remote/origin.git')
    hostGit('-C', checkout, 'push', '--quiet', remote, initial)
    // Someone else pushes a commit to the remote.
    const other = join(work, 'other')
    hostGit('clone', '--quiet', remote, other)
    hostGit('-C', other, 'commit', '--quiet', '--allow-empty', '-m', 'Second commit')
    hostGit('-C', other, 'push', '--quiet', 'origin', initial)

    const pulled = await ok(post('pull', { remote: 'origin', branch: initial }))
    expect(pulled).toMatchObject({ via: 'host', exit_code: 0 })
    const head = await ok(get('head'))
    expect(head).toMatchObject({ sha: hostGit('-C', other, 'rev-parse', 'HEAD'), subject: 'Second commit' })
    expect((await ok(get('branches'))).remote).toContain(`origin/${initial}`)
  })

  test('pull refuses a remote on the host outside the container’s mounts', async () => {
    hostGit('-C', checkout, 'remote', 'add', 'stray', stray)
    const res = await post('pull', { remote: 'stray', branch: initial })
    expect(res.status, res.text).toBe(422)
    expect(res.body).toMatchObject({ error: 'state_error' })
    expect(res.body.message).toContain('outside the container')
  })

  test('the repository’s own settings run nothing on the host and reach nothing outside the volume', async () => {
    const ran = join(work, 'ran')
    hostGit('-C', checkout, 'config', 'core.fsmonitor', `touch ${ran}-fsmonitor #`)
    writeFileSync(join(checkout, '.git', 'hooks', 'post-checkout'), `#!/bin/sh\ntouch ${ran}-hook\n`, {
      mode: 0o755,
    })
    await ok(post('checkout', { branch: 'hooked', create: true }))
    await ok(post('checkout', { branch: initial }))
    expect(existsSync(`${ran}-fsmonitor`)).toBe(false)
    expect(existsSync(`${ran}-hook`)).toBe(false)
    hostGit('-C', checkout, 'config', '--unset', 'core.fsmonitor')

    // A work tree named on the host is a path git cannot see: nothing is checked out there.
    const elsewhere = join(work, 'elsewhere')
    mkdirSync(elsewhere)
    hostGit('-C', checkout, 'config', 'core.worktree', elsewhere)
    try {
      const res = await post('checkout', { branch: 'elsewhere', create: true })
      expect(res.status, res.text).toBe(422)
      expect(res.body).toMatchObject({ error: 'state_error', code: 'git_failed' })
      expect(readdirSync(elsewhere)).toEqual([])
    } finally {
      hostGit('-C', checkout, 'config', '--unset', 'core.worktree')
    }
  })

  test('a checkout of a missing branch is git_failed with git’s own output', async () => {
    const res = await post('checkout', { branch: 'no-such-branch' })
    expect(res.status, res.text).toBe(422)
    expect(res.body).toMatchObject({ error: 'state_error', code: 'git_failed' })
    expect(res.body.details.exit_code).not.toBe(0)
    expect(res.body.details.stderr).toContain('no-such-branch')
    expect((await ok(get('branch'))).name).toBe(initial)
  })

  test('names git could take for options are refused before git runs', async () => {
    const res = await post('checkout', { branch: '--orphan=x' })
    expect(res.status, res.text).toBe(400)
    expect(res.body.error).toBe('validation_error')
    const pull = await post('pull', { remote: 'file:///etc' })
    expect(pull.status, pull.text).toBe(400)
  })

  test('a path on no volume of the container is a 422', async () => {
    const res = await get('head', admin, '?path=/etc')
    expect(res.status, res.text).toBe(422)
    expect(res.body).toMatchObject({ error: 'state_error' })
    expect(res.body.message).toContain('/etc')
    expect((await get('head', admin, '?path=relative')).status).toBe(400)
  })

  test('a viewer reads but does not check out', async () => {
    expect((await get('head', viewer.token)).status).toBe(200)
    expect((await get('branches', viewer.token)).status).toBe(200)
    const res = await post('checkout', { branch: initial }, viewer.token)
    expect(res.status, res.text).toBe(403)
  })

  test('an unknown container is a 404', async () => {
    const res = await api.http.get(`/servers/${serverId}/containers/ctr_nope/git/head`, { token: admin })
    expect(res.status, res.text).toBe(404)
  })
})

describe('git in a container with git of its own', () => {
  let gitContainer: string
  const inContainer = (action: string) => `/servers/${serverId}/containers/${gitContainer}/git/${action}`

  beforeAll(async () => {
    buildGitImage()
    const created = await api.http.post(`/servers/${serverId}/containers`, {
      token: admin,
      body: { image: GIT_IMAGE, name: name('with-git'), cmd: ['sleep', '3600'], working_dir: '/src' },
    })
    expect(created.status, created.text).toBe(201)
    gitContainer = created.body.container.id
  })

  test('init, branch and checkout run in the container, on a path on no volume', async () => {
    const init = await ok(api.http.post(inContainer('init'), { token: admin }))
    expect(init).toMatchObject({ via: 'container', exit_code: 0 })
    expect(init.stdout).toContain('/src/.git/')
    const made = await ok(
      api.http.post(inContainer('checkout'), { token: admin, body: { branch: 'topic', create: true } }),
    )
    expect(made.via).toBe('container')
    expect(await ok(api.http.get(inContainer('branch'), { token: admin }))).toMatchObject({
      via: 'container',
      name: 'topic',
    })
    expect(docker('exec', name('with-git'), 'git', '-C', '/src', 'symbolic-ref', 'HEAD')).toBe(
      'refs/heads/topic',
    )
  })

  test('a git that fails in the container is git_failed with its output', async () => {
    const res = await api.http.get(inContainer('head'), { token: admin })
    expect(res.status, res.text).toBe(422)
    expect(res.body).toMatchObject({ code: 'git_failed', details: { exit_code: 128 } })
    expect(res.body.details.stderr).toContain('does not have any commits yet')
  })

  test('a stopped container’s checkout on no volume cannot be reached', async () => {
    const stopped = await api.http.post(`/servers/${serverId}/containers/${gitContainer}/stop`, {
      token: admin,
      body: { timeout: 0 },
    })
    expect(stopped.status, stopped.text).toBe(200)
    const res = await api.http.get(inContainer('branch'), { token: admin })
    expect(res.status, res.text).toBe(422)
    expect(res.body.message).toMatch(/no git .* none of its volumes/)
  })
})
