import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DeploySource } from '@berth/shared'
import type { Docker } from '../docker.ts'
import { localPath } from '../git.ts'
import { agentUser, collector, runContainedGit, type Sink } from '../git-container.ts'
import type { DeployJob } from './job.ts'
import { DeployFailure } from './stage.ts'

type GitSource = Extract<DeploySource, { type: 'git' }>

export interface Commit {
  sha: string
  message: string
}

/** A full commit id (SHA-1 or SHA-256). */
const FULL_SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/i
/** What may be an abbreviated commit id; it is tried as a branch or tag first. */
const SHORT_SHA = /^[0-9a-f]{7,63}$/i
/** `scheme://user:password@` of an http(s) URL. */
const HTTP_USERINFO = /^(https?:\/\/)([^@/]*)@/i

/**
 * Clones `source` into `dir` (which must not exist) with the host's git in a throwaway container
 * that sees only the job's folder, and checks out its ref:
 * a shallow clone of a branch or tag, or a fetch of just the commit for a sha (a whole clone when
 * the server refuses that). Credentials never reach a command line: a URL's user and password go
 * to git through an askpass script reading the environment, an ssh key through a 0600 file.
 */
export async function cloneRepository(
  docker: Docker,
  source: GitSource,
  dir: string,
  jobDir: string,
  job: DeployJob,
  signal: AbortSignal,
): Promise<Commit> {
  // git would take a URL or ref starting with "-" for an option.
  if (source.url.startsWith('-') || source.ref.startsWith('-')) {
    throw new DeployFailure('the repository URL and ref must not start with "-"')
  }
  const { url, env } = await gitAccess(source, jobDir)
  // The job's folder, and a file:// repository (an admin's choice) read-only: all the clone can see.
  const local = localPath(url)
  const mounts = [{ source: jobDir }, ...(local ? [{ source: local, readOnly: true }] : [])]
  const { uid, gid } = agentUser()
  const run = (cwd: string, args: string[], stdout: Sink) =>
    runContainedGit(docker, {
      args: ['-c', 'credential.helper=', '-C', cwd, ...args],
      env,
      mounts,
      user: `${uid}:${gid}`,
      network: 'host',
      stdout,
      stderr: job.lineWriter('stderr'),
      signal,
    })
  const git = async (cwd: string, ...args: string[]) => ({
    ok: (await run(cwd, args, job.lineWriter('stdout'))) === 0,
  })
  const clone = async () => {
    await rm(dir, { recursive: true, force: true })
    return git(jobDir, 'clone', '--no-checkout', '--', url, dir)
  }
  const checkout = (ref: string) => git(dir, 'checkout', '--quiet', '--detach', ref, '--')
  const { ref } = source

  job.log('system', `cloning ${url} at ${ref}`)
  let cloned: boolean
  if (FULL_SHA.test(ref)) {
    cloned =
      (await git(jobDir, 'init', '--quiet', dir)).ok &&
      (await git(dir, 'remote', 'add', 'origin', url)).ok &&
      (await git(dir, 'fetch', '--depth', '1', 'origin', ref)).ok &&
      (await checkout('FETCH_HEAD')).ok
    if (!cloned) {
      job.log('system', 'the server does not serve a single commit; cloning the whole repository')
      cloned = (await clone()).ok && (await checkout(ref)).ok
    }
  } else {
    cloned = (await git(jobDir, 'clone', '--depth', '1', '--branch', ref, '--', url, dir)).ok
    if (!cloned && SHORT_SHA.test(ref)) {
      job.log('system', `${ref} is not a branch or tag; cloning the whole repository to find the commit`)
      cloned = (await clone()).ok && (await checkout(ref)).ok
    }
  }
  if (!cloned) throw new DeployFailure(`cannot clone ${url} at ${ref}; git's output is in the log`)

  const output = collector()
  const code = await run(dir, ['log', '-1', '--format=%H%n%s'], output)
  const [sha = '', message = ''] = output.text().split('\n')
  if (code !== 0 || !sha) throw new DeployFailure(`cannot read the commit of ${url} at ${ref}`)
  return { sha, message }
}

/** The URL git is given (without a password) and the environment that lets it authenticate. */
async function gitAccess(source: GitSource, jobDir: string): Promise<{ url: string; env: string[] }> {
  const env = ['GIT_TERMINAL_PROMPT=0', 'SSH_ASKPASS=']
  let url = source.url
  const userinfo = HTTP_USERINFO.exec(url)
  if (userinfo) {
    const [user = '', password = ''] = (userinfo[2] ?? '').split(/:(.*)/s)
    url = url.replace(HTTP_USERINFO, '$1')
    // Read from 0600 files: a container's environment shows in its inspect.
    const secret = (name: string) => shellQuote(join(jobDir, name))
    await writeFile(join(jobDir, 'git-username'), `${safeDecode(user)}\n`, { mode: 0o600 })
    await writeFile(join(jobDir, 'git-password'), `${safeDecode(password)}\n`, { mode: 0o600 })
    const askpass = join(jobDir, 'askpass.sh')
    await writeFile(
      askpass,
      `#!/bin/sh\ncase "$1" in\n  Username*) IFS= read -r v < ${secret('git-username')} ;;\n  *) IFS= read -r v < ${secret('git-password')} ;;\nesac\nprintf '%s\\n' "$v"\n`,
      { mode: 0o700 },
    )
    env.push(`GIT_ASKPASS=${askpass}`)
  } else {
    env.push('GIT_ASKPASS=')
  }
  const ssh = ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=accept-new']
  ssh.push('-o', `UserKnownHostsFile=${shellQuote(join(jobDir, 'known_hosts'))}`)
  if (source.ssh_key) {
    const keyFile = join(jobDir, 'deploy_key')
    const key = source.ssh_key.endsWith('\n') ? source.ssh_key : `${source.ssh_key}\n`
    await writeFile(keyFile, key, { mode: 0o600 })
    ssh.push('-i', shellQuote(keyFile), '-o', 'IdentitiesOnly=yes')
  }
  env.push(`GIT_SSH_COMMAND=${ssh.join(' ')}`)
  return { url, env }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** `text` as one word for the shell that runs GIT_SSH_COMMAND. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}
