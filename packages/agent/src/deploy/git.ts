import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DeploySource } from '@berth/shared'
import type { DeployJob } from './job.ts'
import { runProcess } from './process.ts'
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
 * Clones `source` into `dir` (which must not exist) with the system's git, and checks out its ref:
 * a shallow clone of a branch or tag, or a fetch of just the commit for a sha (a whole clone when
 * the server refuses that). Credentials never reach a command line: a URL's user and password go
 * to git through an askpass script reading the environment, an ssh key through a 0600 file.
 */
export async function cloneRepository(
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
  const git = async (cwd: string, ...args: string[]) => {
    const { code, output } = await runProcess('git', ['-c', 'credential.helper=', ...args], {
      cwd,
      env,
      signal,
      stdout: job.lineWriter('stdout'),
      stderr: job.lineWriter('stderr'),
    })
    return { ok: code === 0, output }
  }
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

  const head = await runProcess('git', ['log', '-1', '--format=%H%n%s'], {
    cwd: dir,
    env,
    signal,
    stderr: job.lineWriter('stderr'),
  })
  const [sha = '', message = ''] = head.output.split('\n')
  if (head.code !== 0 || !sha) throw new DeployFailure(`cannot read the commit of ${url} at ${ref}`)
  return { sha, message }
}

/** The URL git is given (without a password) and the environment that lets it authenticate. */
async function gitAccess(
  source: GitSource,
  jobDir: string,
): Promise<{ url: string; env: NodeJS.ProcessEnv }> {
  const env: NodeJS.ProcessEnv = {
    // The agent's own settings (its enrollment token among them) are none of git's business.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_'))),
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    LC_ALL: 'C',
  }
  let url = source.url
  const userinfo = HTTP_USERINFO.exec(url)
  if (userinfo) {
    const [user = '', password = ''] = (userinfo[2] ?? '').split(/:(.*)/s)
    url = url.replace(HTTP_USERINFO, '$1')
    const askpass = join(jobDir, 'askpass.sh')
    await writeFile(
      askpass,
      '#!/bin/sh\ncase "$1" in\n  Username*) printf \'%s\\n\' "$BERTH_GIT_USERNAME" ;;\n  *) printf \'%s\\n\' "$BERTH_GIT_PASSWORD" ;;\nesac\n',
      { mode: 0o700 },
    )
    env.GIT_ASKPASS = askpass
    env.BERTH_GIT_USERNAME = safeDecode(user)
    env.BERTH_GIT_PASSWORD = safeDecode(password)
  }
  const ssh = ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=accept-new']
  ssh.push('-o', `UserKnownHostsFile=${shellQuote(join(jobDir, 'known_hosts'))}`)
  if (source.ssh_key) {
    const keyFile = join(jobDir, 'deploy_key')
    const key = source.ssh_key.endsWith('\n') ? source.ssh_key : `${source.ssh_key}\n`
    await writeFile(keyFile, key, { mode: 0o600 })
    ssh.push('-i', shellQuote(keyFile), '-o', 'IdentitiesOnly=yes')
  }
  env.GIT_SSH_COMMAND = ssh.join(' ')
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
