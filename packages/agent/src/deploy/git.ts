import { constants } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DeploySource } from '@berth/shared'
import type { Docker } from '../docker/index.ts'
import { agentUser, localPath, runContainedGit } from '../git-container.ts'
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
  const { ref } = source
  const { uid, gid } = agentUser()
  const commitFile = join(jobDir, 'cloned-commit')
  /**
   * Runs git commands one after another in one container (each container costs a start) and,
   * when all succeed, the read of the commit they checked out; null when one fails.
   */
  const attempt = async (steps: [cwd: string, ...args: string[]][]): Promise<Commit | null> => {
    await rm(dir, { recursive: true, force: true })
    const line = ([cwd, ...args]: [string, ...string[]]) =>
      ['git', '-c', 'credential.helper=', '-C', cwd, ...args].map(shellQuote).join(' ')
    const script = [...steps, [dir, ...READ_COMMIT] as [string, ...string[]]].map(line).join(' && ')
    const code = await runContainedGit(docker, {
      script: `${script} > ${shellQuote(commitFile)}`,
      env,
      mounts,
      user: `${uid}:${gid}`,
      network: 'host',
      stdout: job.lineWriter('stdout'),
      stderr: job.lineWriter('stderr'),
      signal,
    })
    if (code !== 0) return null
    // The job's own folder, beside the clone: no link of the repository's is on the way.
    const printed = await readFile(commitFile, {
      encoding: 'utf8',
      flag: constants.O_RDONLY | constants.O_NOFOLLOW,
    })
    const [sha = '', message = ''] = printed.split('\n')
    if (!sha) throw new DeployFailure(`cannot read the commit of ${url} at ${ref}`)
    return { sha, message }
  }
  const wholeClone = () =>
    attempt([
      [jobDir, 'clone', '--no-checkout', '--', url, dir],
      [dir, 'checkout', '--quiet', '--detach', ref, '--'],
    ])

  job.log('system', `cloning ${url} at ${ref}`)
  let commit: Commit | null
  if (FULL_SHA.test(ref)) {
    commit = await attempt([
      [jobDir, 'init', '--quiet', dir],
      [dir, 'remote', 'add', 'origin', url],
      [dir, 'fetch', '--depth', '1', 'origin', ref],
      [dir, 'checkout', '--quiet', '--detach', 'FETCH_HEAD', '--'],
    ])
    if (!commit) {
      job.log('system', 'the server does not serve a single commit; cloning the whole repository')
      commit = await wholeClone()
    }
  } else {
    commit = await attempt([[jobDir, 'clone', '--depth', '1', '--branch', ref, '--', url, dir]])
    if (!commit && SHORT_SHA.test(ref)) {
      job.log('system', `${ref} is not a branch or tag; cloning the whole repository to find the commit`)
      commit = await wholeClone()
    }
  }
  if (!commit) throw new DeployFailure(`cannot clone ${url} at ${ref}; git's output is in the log`)
  return commit
}

/** git's arguments that print the checked-out commit: its id, then its subject. */
const READ_COMMIT = ['log', '-1', '--format=%H%n%s']

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
