import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { startAgentProcess } from './support/agent.ts'
import { docker, removeContainers, TEST_IMAGE } from './support/docker.ts'
import { createUser, registerAdmin, waitForServerStatus } from './support/flows.ts'
import { type Child, waitFor } from './support/process.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// A container's checkout is its owner's to write: nothing in it may run a program on the host or
// make git read or write a host file. The test image has no git, so the host's git is what runs.

let api: ApiTarget
let admin: string
let member: { token: string }
let viewer: { token: string }
let serverId: string
let agent: Child
let containerId: string
/** The volume's folder on the host: the checkout at /repo. */
let checkout: string
const run = Math.random().toString(36).slice(2, 7)
const name = (what: string) => `t${run}-sgit-${what}`
const work = mkdtempSync(join(os.tmpdir(), 'berth-sgit-'))
/** Where a program run on the host by any mechanism leaves its mark. */
const proof = join(work, 'proof')
/** A host file no user may read, first and last lines marked. */
const secret = join(work, 'host-secret')
const SECRET = `SECRET-${run}`
/** A bare repository, the checkout's origin, bind-mounted at the same path: its URL names it on the host and in the container alike. */
const remote = join(work, 'remote', 'origin.git')
/** A repository on the host, on no mount of the container. */
const hostRepo = join(work, 'host-repo')

function hostGit(...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Tester', '-c', 'user.email=tester@example.com', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  }).trim()
}

/** A shell command that records on the host that it ran. */
const mark = (what: string) => `id > ${join(proof, what)}`

beforeAll(async () => {
  api = await startApi()
  admin = await registerAdmin(api.http)
  member = await createUser(api.http, admin, 'member')
  viewer = await createUser(api.http, admin, 'viewer')
  // The agent's own git config holds a secret, as a host's may: none of it reaches a clone.
  const home = join(work, 'agent-home')
  mkdirSync(home)
  writeFileSync(join(home, '.gitconfig'), `[http]\n\textraHeader = X-Host-Secret: ${SECRET}\n`)
  const server = await api.http.post('/servers', { token: admin, body: { name: 'sgit-host' } })
  expect(server.status, server.text).toBe(201)
  serverId = server.body.server.id
  const stateDir = join(work, 'agent-state')
  mkdirSync(stateDir)
  agent = startAgentProcess({
    api: api.url,
    token: server.body.enrollment.token,
    stateDir,
    env: { HOME: home },
  })
  await waitForServerStatus(api.http, admin, serverId, 'online')
  writeFileSync(secret, `first-${SECRET}\nmiddle\nlast-${SECRET}\n`)
  hostGit('init', '--quiet', '--bare', remote)
  hostGit('init', '--quiet', hostRepo)
  hostGit('-C', hostRepo, 'commit', '--quiet', '--allow-empty', '-m', `host commit ${SECRET}`)
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
        { source: join(work, 'remote'), target: join(work, 'remote') },
      ],
    },
  })
  expect(created.status, created.text).toBe(201)
  containerId = created.body.container.id
})

afterAll(async () => {
  await agent?.stop()
  removeContainers(docker('ps', '-aq', '--filter', `name=t${run}-sgit-`).split('\n').filter(Boolean))
  try {
    docker('volume', 'rm', '-f', name('repo'))
  } catch {
    // already gone
  }
  rmSync(work, { recursive: true, force: true })
  await api?.stop()
})

/** A checkout with one commit pushed to origin, and a second commit on origin to pull. */
beforeEach(() => {
  rmSync(proof, { recursive: true, force: true })
  mkdirSync(proof)
  for (const entry of readdirSync(checkout)) rmSync(join(checkout, entry), { recursive: true, force: true })
  rmSync(remote, { recursive: true, force: true })
  hostGit('init', '--quiet', '--bare', '--initial-branch=main', remote)
  hostGit('init', '--quiet', '--initial-branch=main', checkout)
  writeFileSync(join(checkout, 'README'), 'hello\n')
  hostGit('-C', checkout, 'add', 'README')
  hostGit('-C', checkout, 'commit', '--quiet', '-m', 'First commit')
  hostGit('-C', checkout, 'remote', 'add', 'origin', `file://${remote}`)
  hostGit('-C', checkout, 'push', '--quiet', 'origin', 'main')
  hostGit('-C', checkout, 'config', 'branch.main.remote', 'origin')
  hostGit('-C', checkout, 'config', 'branch.main.merge', 'refs/heads/main')
  const other = join(work, `other-${Math.random().toString(36).slice(2, 7)}`)
  hostGit('clone', '--quiet', remote, other)
  writeFileSync(join(other, 'README'), 'hello again\n')
  hostGit('-C', other, 'commit', '--quiet', '-am', 'Second commit')
  hostGit('-C', other, 'push', '--quiet', 'origin', 'main')
  rmSync(other, { recursive: true, force: true })
})

type Action = 'head' | 'branches' | 'branch' | 'init' | 'checkout' | 'pull'
const READS: Action[] = ['head', 'branches', 'branch']

async function gitAction(action: Action, body?: unknown, token = admin) {
  const path = `/servers/${serverId}/containers/${containerId}/git/${action}`
  return READS.includes(action) ? api.http.get(path, { token }) : api.http.post(path, { token, body })
}

/** What a user sees of an action: a status and body that carry no host secret and no 500. */
async function expectContained(action: Action, body?: unknown, token = admin) {
  const res = await gitAction(action, body, token)
  expect(res.status, res.text).not.toBe(500)
  expect(res.text).not.toContain(SECRET)
  return res
}

const config = (key: string, value: string) => hostGit('-C', checkout, 'config', key, value)

describe('a checkout’s config and hooks run no program on the host', () => {
  test('core.alternateRefsCommand with an alternate on the host runs nothing on a pull', async () => {
    writeFileSync(join(checkout, '.git', 'objects', 'info', 'alternates'), `${hostRepo}/.git/objects\n`)
    config('core.alternateRefsCommand', `${mark('alternate-refs')} #`)
    await expectContained('pull')
    expect(readdirSync(proof)).toEqual([])
  })

  test('an include of a host file setting a command runs nothing and reads nothing', async () => {
    const included = join(work, 'included.gitconfig')
    writeFileSync(included, `[core]\n\talternateRefsCommand = ${mark('include')} #\n`)
    writeFileSync(join(checkout, '.git', 'objects', 'info', 'alternates'), `${hostRepo}/.git/objects\n`)
    config('include.path', included)
    config('includeIf.gitdir:/.path', included)
    await expectContained('pull')
    expect(readdirSync(proof)).toEqual([])
  })

  // Every key and file git documents as naming a program (git help -c, githooks, gitattributes),
  // each set where the action that would run it follows.
  const mechanisms: { what: string; action: Action; body?: unknown; set: () => void }[] = [
    { what: 'core.fsmonitor', action: 'checkout', set: () => config('core.fsmonitor', mark('fsmonitor')) },
    {
      what: 'core.hooksPath',
      action: 'checkout',
      set: () => {
        const hooks = join(work, 'hooks')
        mkdirSync(hooks, { recursive: true })
        writeFileSync(join(hooks, 'post-checkout'), `#!/bin/sh\n${mark('hooks-path')}\n`, { mode: 0o755 })
        config('core.hooksPath', hooks)
      },
    },
    {
      what: 'hooks in .git/hooks',
      action: 'pull',
      set: () => {
        for (const hook of ['post-checkout', 'post-merge', 'reference-transaction', 'pre-auto-gc']) {
          writeFileSync(join(checkout, '.git', 'hooks', hook), `#!/bin/sh\n${mark(`hook-${hook}`)}\n`, {
            mode: 0o755,
          })
        }
      },
    },
    {
      what: 'filters named in .gitattributes',
      action: 'pull',
      set: () => {
        writeFileSync(join(checkout, '.git', 'info', 'attributes'), '* filter=evil diff=evil\n')
        config('filter.evil.smudge', mark('smudge'))
        config('filter.evil.clean', mark('clean'))
        config('filter.evil.process', mark('process'))
        config('diff.evil.textconv', mark('textconv'))
        config('diff.external', mark('external-diff'))
      },
    },
    {
      what: 'remote.<name>.uploadpack',
      action: 'pull',
      set: () => config('remote.origin.uploadpack', `${mark('uploadpack')}; git-upload-pack`),
    },
    {
      what: 'core.sshCommand',
      action: 'pull',
      set: () => {
        config('remote.origin.url', 'ssh://git@127.0.0.1:1/repo.git')
        config('core.sshCommand', `${mark('ssh-command')} #`)
        config('ssh.variant', 'simple')
      },
    },
    {
      what: 'core.gitProxy',
      action: 'pull',
      set: () => {
        config('remote.origin.url', 'git://127.0.0.1:1/repo.git')
        const proxy = join(work, 'proxy.sh')
        writeFileSync(proxy, `#!/bin/sh\n${mark('git-proxy')}\n`, { mode: 0o755 })
        config('core.gitProxy', proxy)
      },
    },
    {
      what: 'ext:: through url.<base>.insteadOf',
      action: 'pull',
      set: () => {
        config('remote.origin.url', 'evil:repo')
        // ext:: runs its command directly; "% " is a space inside one argument.
        config(`url.ext::sh -c id% >% ${join(proof, 'ext')}.insteadOf`, 'evil:')
        config('protocol.ext.allow', 'always')
      },
    },
    {
      what: 'pagers, editors, credential helpers and gpg',
      action: 'pull',
      set: () => {
        config('core.pager', mark('pager'))
        config('pager.log', mark('pager-log'))
        config('core.editor', mark('editor'))
        config('credential.helper', `!${mark('credential')} #`)
        config('core.askPass', mark('askpass'))
        config('gpg.program', mark('gpg'))
        config('merge.verifySignatures', 'true')
        config('pull.rebase', 'false')
      },
    },
  ]

  test.each(mechanisms)('$what runs nothing on the host', async ({ action, set }) => {
    set()
    const body = action === 'checkout' ? { branch: 'topic', create: true } : undefined
    await expectContained(action, body)
    expect(readdirSync(proof)).toEqual([])
  })
})

describe('links inside .git reach no host file', () => {
  test('.git/shallow linked to a host file does not show its first line to a viewer', async () => {
    symlinkSync(secret, join(checkout, '.git', 'shallow'))
    await expectContained('head', undefined, viewer.token)
  })

  test('.git/packed-refs linked to a host file does not show its last line', async () => {
    symlinkSync(secret, join(checkout, '.git', 'packed-refs'))
    await expectContained('branches', undefined, viewer.token)
    await expectContained('head', undefined, viewer.token)
  })

  test('a ref linked to a host file is not read', async () => {
    symlinkSync(secret, join(checkout, '.git', 'refs', 'heads', 'leak'))
    await expectContained('branches', undefined, viewer.token)
    await expectContained('checkout', { branch: 'leak' }, member.token)
  })

  test('a reflog linked to a host file is not written through', async () => {
    const log = join(checkout, '.git', 'logs', 'HEAD')
    unlinkSync(log)
    symlinkSync(secret, log)
    await expectContained('checkout', { branch: 'topic', create: true }, member.token)
    await expectContained('pull', undefined, member.token)
    expect(readFileSync(secret, 'utf8')).toBe(`first-${SECRET}\nmiddle\nlast-${SECRET}\n`)
  })

  test('a config linked to a host file is not rewritten by init', async () => {
    const hostConfig = join(work, 'host.gitconfig')
    const content = '[core]\n\tbare = false\n'
    writeFileSync(hostConfig, content)
    const own = join(checkout, '.git', 'config')
    unlinkSync(own)
    symlinkSync(hostConfig, own)
    await expectContained('init', undefined, member.token)
    expect(readFileSync(hostConfig, 'utf8')).toBe(content)
  })

  test('alternates naming a host repository do not show its commits', async () => {
    writeFileSync(join(checkout, '.git', 'objects', 'info', 'alternates'), `${hostRepo}/.git/objects\n`)
    writeFileSync(
      join(checkout, '.git', 'refs', 'heads', 'main'),
      `${hostGit('-C', hostRepo, 'rev-parse', 'HEAD')}\n`,
    )
    await expectContained('head', undefined, viewer.token)
  })

  test('a .git file naming a host repository does not show its commits', async () => {
    rmSync(join(checkout, '.git'), { recursive: true })
    writeFileSync(join(checkout, '.git'), `gitdir: ${hostRepo}/.git\n`)
    await expectContained('head', undefined, viewer.token)
  })
})

describe('a deploy’s clone', () => {
  test('sends nothing of the host’s git config to a member’s repository server', async () => {
    const seen: string[] = []
    const repoServer = http.createServer((req, res) => {
      seen.push(JSON.stringify(req.headers))
      res.writeHead(404).end()
    })
    repoServer.listen(0, '127.0.0.1')
    await once(repoServer, 'listening')
    const { port } = repoServer.address() as AddressInfo
    try {
      const created = await api.http.post('/apps', {
        token: member.token,
        body: {
          name: name('clone'),
          server_id: serverId,
          port: 3000,
          source: { type: 'git', url: `http://127.0.0.1:${port}/app.git` },
        },
      })
      expect(created.status, created.text).toBe(201)
      const queued = await api.http.post(`/apps/${created.body.app.id}/deploy`, { token: member.token })
      expect(queued.status, queued.text).toBe(202)
      const id = queued.body.deployment.id
      const done = await waitFor(
        'the deployment to end',
        async () => {
          const res = await api.http.get(`/deployments/${id}`, { token: member.token })
          return (
            ['running', 'failed', 'cancelled'].includes(res.body.deployment?.state) && res.body.deployment
          )
        },
        60_000,
        200,
      )
      expect(done.state).toBe('failed')
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.join('\n')).not.toContain(SECRET)
      const logs = await api.http.get(`/deployments/${id}/logs`, { token: member.token })
      expect(logs.text).not.toContain(SECRET)
    } finally {
      repoServer.close()
    }
  })
})
