import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { connectDocker } from './docker/index.ts'
import { collector, gitImage, runContainedGit } from './git-container.ts'
import { dockerCli } from './testing/test-docker.ts'

// The git container against the real Docker Engine, with the image made from this host's git.

const docker = connectDocker()
const work = mkdtempSync(join(os.tmpdir(), 'berth-gitbox-'))
const signal = () => AbortSignal.timeout(60_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Runs git in the git container and answers its exit code and output. */
async function git(
  args: string[],
  more: { mounts?: { source: string; readOnly?: boolean }[]; user?: string } = {},
) {
  const stdout = collector()
  const stderr = collector()
  const code = await runContainedGit(docker, {
    args,
    network: 'none',
    ...more,
    stdout,
    stderr,
    signal: signal(),
  })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

describe('the git container', { timeout: 120_000 }, () => {
  test('runs the host’s git from an image made once, named by what went in', async () => {
    const first = await gitImage(docker, signal())
    expect(first).toMatch(/^berth-git:[0-9a-f]{16}$/)
    expect(await gitImage(docker, signal())).toBe(first)
    const version = await git(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout.trim()).toBe(execFileSync('git', ['--version'], { encoding: 'utf8' }).trim())
  })

  test('works on a mounted folder and is gone after', async () => {
    const repo = join(work, 'repo')
    const made = await git(['init', '--quiet', repo], { mounts: [{ source: work }] })
    expect(made, made.stderr).toMatchObject({ code: 0 })
    expect(existsSync(join(repo, '.git', 'HEAD'))).toBe(true)
    expect(dockerCli('ps', '-aq', '--filter', 'label=berth.git=true', '--filter', 'status=exited')).toBe('')
  })

  test('sees no host file outside its mounts, through a path or a link', async () => {
    const hostFile = join(os.tmpdir(), `berth-gitbox-secret-${process.pid}`)
    writeFileSync(hostFile, 'host secret\n')
    try {
      const inside = join(work, 'links')
      const repo = await git(['init', '--quiet', inside], { mounts: [{ source: work }] })
      expect(repo.code).toBe(0)
      symlinkSync(hostFile, join(inside, 'link'))
      const read = await git(['-C', inside, 'config', '--file', 'link', '--list'], {
        mounts: [{ source: work }],
      })
      expect(read.code).not.toBe(0)
      expect(read.stdout + read.stderr).not.toContain('host secret')
      const outside = await git(['init', '--quiet', join(os.tmpdir(), `berth-gitbox-made-${process.pid}`)], {
        mounts: [{ source: work }],
      })
      // Made in the container's own /tmp, gone with it.
      expect(outside.code).toBe(0)
      expect(existsSync(join(os.tmpdir(), `berth-gitbox-made-${process.pid}`))).toBe(false)
    } finally {
      rmSync(hostFile, { force: true })
    }
  })

  test('runs as the user it is given, whose files the agent can then remove', async () => {
    const owned = mkdtempSync(join(work, 'owned-'))
    chmodSync(owned, 0o777)
    const res = await git(['init', '--quiet', join(owned, 'repo')], {
      mounts: [{ source: owned }],
      user: '4321:4321',
    })
    expect(res, res.stderr).toMatchObject({ code: 0 })
    expect(statSync(join(owned, 'repo', '.git', 'HEAD'))).toMatchObject({ uid: 4321, gid: 4321 })
  })

  test('a read-only mount stays unwritten', async () => {
    const frozen = mkdtempSync(join(work, 'frozen-'))
    const res = await git(['init', '--quiet', frozen], { mounts: [{ source: frozen, readOnly: true }] })
    expect(res.code).not.toBe(0)
    expect(readdirSync(frozen)).toEqual([])
  })
})
