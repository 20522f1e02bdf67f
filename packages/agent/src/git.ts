import { mkdir } from 'node:fs/promises'
import { dirname, isAbsolute, posix, resolve } from 'node:path'
import type { OpArgs, OpResult } from '@berth/shared'
import { runProcess } from './deploy/process.ts'
import type { ContainerInspect, Docker } from './docker.ts'
import { OpError } from './errors.ts'
import type { OpHandlers } from './ops.ts'
import { confine, mountOf } from './volume-paths.ts'

// Git in a container's checkout: the container's own git when it has one, else the host's git
// against the container's volume.

type GitArgs = OpArgs<'git.run'>
type GitRun = Omit<OpResult<'git.run'>, 'via'>

const PULL_TIMEOUT_MS = 5 * 60_000
const GIT_TIMEOUT_MS = 30_000
/** Each of stdout and stderr is cut here: a result travels in one frame. */
const OUTPUT_LIMIT = 512 * 1024

export const gitOps: Pick<OpHandlers, 'git.run'> = {
  'git.run': async (args, { docker, signal }) => {
    const command = gitCommand(args)
    const container = await docker.inspectContainer(args.ref, signal)
    const path = args.path ?? (container.Config.WorkingDir || '/')
    if (!posix.isAbsolute(path)) throw new OpError('validation_error', `the path must be absolute: ${path}`)
    const limitMs = args.action === 'pull' ? PULL_TIMEOUT_MS : GIT_TIMEOUT_MS
    const timeout = AbortSignal.timeout(limitMs)
    const bounded = AbortSignal.any([signal, timeout])
    try {
      if (container.State.Status === 'running' && (await hasGit(docker, container.Id, bounded))) {
        return { via: 'container', ...(await containerGit(docker, container.Id, path, command, bounded)) }
      }
      return { via: 'host', ...(await hostGit(container, path, args, command, bounded)) }
    } catch (err) {
      if (timeout.aborted && !signal.aborted) {
        throw new OpError('timeout', `git ${args.action} took longer than ${limitMs / 1000} s`)
      }
      throw err
    }
  },
}

/** git's arguments for an action; names are checked so that none can be read as an option. */
export function gitCommand(args: Pick<GitArgs, 'action' | 'branch' | 'create' | 'remote'>): string[] {
  switch (args.action) {
    case 'init':
      return ['init']
    case 'head':
      return ['log', '-1', '--format=%H%n%s']
    case 'branches':
      // Full ref names tell a local branch from a remote one even when a local name contains a slash.
      return ['branch', '--all', '--format=%(refname)']
    case 'branch':
      // Unlike rev-parse, this names the branch of a repository with no commit yet too.
      return ['symbolic-ref', '--short', 'HEAD']
    case 'checkout': {
      if (!args.branch) throw new OpError('validation_error', 'checkout needs a branch')
      const branch = refName('branch', args.branch)
      return args.create ? ['checkout', '-b', branch, '--'] : ['checkout', branch, '--']
    }
    case 'pull': {
      // git names a branch to pull only after its remote: origin unless another is given.
      const remote = args.remote ?? (args.branch ? 'origin' : undefined)
      const named = [
        ...(remote ? [refName('remote', remote)] : []),
        ...(args.branch ? [refName('branch', args.branch)] : []),
      ]
      return ['pull', '--ff-only', '--no-rebase', ...named]
    }
  }
}

/**
 * `name` when it is a valid branch or remote name by git's ref rules (git check-ref-format), which
 * also keeps it from starting with "-"; a remote is a configured remote's name, never a URL.
 */
export function refName(what: 'branch' | 'remote', name: string): string {
  const bad =
    name.startsWith('-') ||
    name.startsWith('/') ||
    name.endsWith('/') ||
    name.endsWith('.') ||
    name === '@' ||
    name.includes('..') ||
    name.includes('//') ||
    name.includes('@{') ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: git refuses control characters in refs
    /[\x00-\x20\x7f~^:?*[\\]/.test(name) ||
    name.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock'))
  if (bad) throw new OpError('validation_error', `"${name}" is not a valid ${what} name`)
  return name
}

// ---------------------------------------------------------------- in the container

async function hasGit(docker: Docker, id: string, signal: AbortSignal): Promise<boolean> {
  // Run without a shell: a missing git is exec's "not found" (exit 126 or 127), any other failure too.
  const { exit_code } = await runExec(docker, id, ['git', '--version'], signal)
  return exit_code === 0
}

function containerGit(docker: Docker, id: string, path: string, command: string[], signal: AbortSignal) {
  return runExec(docker, id, ['git', '-C', path, ...command], signal, ['GIT_TERMINAL_PROMPT=0'])
}

/** Runs a command in a running container to its end, with its output collected. */
async function runExec(
  docker: Docker,
  id: string,
  cmd: string[],
  signal: AbortSignal,
  env?: string[],
): Promise<GitRun> {
  const exec = await docker.createExec(id, { cmd, ...(env ? { env } : {}) }, signal)
  const output = await docker.startExec(exec, signal)
  const stdout = collector()
  const stderr = collector()
  for await (const piece of output) (piece.stream === 'stdout' ? stdout : stderr).write(piece.data)
  if (signal.aborted) throw signal.reason
  const { ExitCode } = await docker.inspectExec(exec, signal)
  return { exit_code: ExitCode ?? -1, stdout: stdout.text(), stderr: stderr.text() }
}

// ---------------------------------------------------------------- on the host

/**
 * Settings given on git's command line, which win over a repository's own config: the repository is
 * the container's to write, and none of its settings may run a program on the host or reach past it.
 */
const HOST_SETTINGS = [
  'core.fsmonitor=false',
  'core.hooksPath=/dev/null',
  'credential.helper=',
  'log.showSignature=false',
  'merge.verifySignatures=false',
  'submodule.recurse=false',
  'fetch.recurseSubmodules=false',
  'protocol.allow=never',
  'protocol.file.allow=always',
  'protocol.http.allow=always',
  'protocol.https.allow=always',
  'protocol.ssh.allow=always',
]

/** Config a repository may set that names a program git would run; each is emptied or reset. */
const PROGRAM_SETTINGS = /^(filter\.(.+)\.(clean|smudge|process)|remote\.(.+)\.(uploadpack|receivepack))$/

async function hostGit(
  container: ContainerInspect,
  path: string,
  args: GitArgs,
  command: string[],
  signal: AbortSignal,
): Promise<GitRun> {
  const mounts = container.Mounts ?? []
  const mounted = mountOf(mounts, path)
  if (!mounted) {
    throw new OpError(
      'state_error',
      `container ${container.Name.replace(/^\//, '')} has no git of its own (or is not running) and ${path} is on none of its volumes`,
    )
  }
  const root = await confine(mounted.source, '')
  let dir = await confine(root, mounted.relative)
  if (args.action === 'init') {
    await mkdir(dir, { recursive: true })
    // Made through what was checked; checked again now that it exists.
    dir = await confine(root, mounted.relative)
  }
  const git = (...gitArgs: string[]) => runHostGit(root, dir, gitArgs, signal)

  const settings = [...HOST_SETTINGS]
  if (args.action !== 'init') {
    const where = await git('rev-parse', '--absolute-git-dir')
    // Not a repository: git's own message says so.
    if (where.exit_code !== 0) return where
    const top = await git('rev-parse', '--show-toplevel')
    const places = [where.stdout.trim(), ...(top.exit_code === 0 ? [top.stdout.trim()] : [])]
    for (const place of places) {
      await confine(root, posix.relative(root, place)).catch(() => {
        throw new OpError(
          'state_error',
          `the repository at ${path} has its git dir or work tree outside the volume`,
        )
      })
    }
    const named = await git('config', '--name-only', '--get-regexp', PROGRAM_SETTINGS.source)
    for (const name of named.stdout.split('\n').filter(Boolean)) settings.push(neutral(name))
  }
  if (args.action === 'pull') await checkRemote(mounts, dir, args, git)
  return git(...settings.flatMap((setting) => ['-c', setting]), ...command)
}

/** A setting that keeps git from running the program `name` configures. */
function neutral(name: string): string {
  if (name.endsWith('.uploadpack')) return `${name}=git-upload-pack`
  if (name.endsWith('.receivepack')) return `${name}=git-receive-pack`
  return `${name}=`
}

/** A remote on this host's disk is pulled from only when it is on one of the container's own mounts. */
async function checkRemote(
  mounts: NonNullable<ContainerInspect['Mounts']>,
  dir: string,
  args: GitArgs,
  git: (...args: string[]) => Promise<GitRun>,
): Promise<void> {
  let remote = args.remote
  if (!remote) {
    const branch = await git('symbolic-ref', '--short', 'HEAD')
    const configured =
      branch.exit_code === 0 ? await git('config', '--get', `branch.${branch.stdout.trim()}.remote`) : null
    remote = configured?.exit_code === 0 ? configured.stdout.trim() : 'origin'
  }
  const url = (await git('ls-remote', '--get-url', '--', remote)).stdout.trim()
  const local = localPath(url)
  if (local === null) return
  const target = resolve(dir, local)
  for (const mount of mounts) {
    if (!mount.Source?.startsWith('/') || mount.Type === 'tmpfs') continue
    const root = await confine(mount.Source, '').catch(() => null)
    if (root && (await confine(root, posix.relative(root, target)).catch(() => null))) return
  }
  throw new OpError(
    'state_error',
    `the remote ${remote} is a path on the host outside the container's volumes`,
  )
}

/** The path of a git URL that names a directory on this host (file:// or a plain path); null for a network URL. */
export function localPath(url: string): string | null {
  if (url.startsWith('file://')) return decodeURIComponent(url.slice('file://'.length).replace(/^[^/]*/, ''))
  if (/^[a-z][a-z0-9+.-]*::?\/\//i.test(url) || /^[a-z][a-z0-9+.-]*::/i.test(url)) return null
  // git reads `host:path` as ssh unless a slash comes before the colon.
  const colon = url.indexOf(':')
  const slash = url.indexOf('/')
  if (colon > 0 && (slash === -1 || colon < slash)) return null
  return url
}

async function runHostGit(root: string, dir: string, args: string[], signal: AbortSignal): Promise<GitRun> {
  const stdout = collector()
  const stderr = collector()
  const { code } = await runProcess('git', args, { cwd: dir, env: hostEnv(root), signal, stdout, stderr })
  return { exit_code: code, stdout: stdout.text(), stderr: stderr.text() }
}

/** The agent's environment for git, without its own settings and with git's looked for nowhere above the volume. */
function hostEnv(root: string): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(
    ([name]) => !name.startsWith('BERTH_') && !name.startsWith('GIT_'),
  )
  return {
    ...Object.fromEntries(inherited),
    // The host's git config shapes nothing in a container's checkout.
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CEILING_DIRECTORIES: isAbsolute(root) ? dirname(root) : '',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    GIT_PAGER: 'cat',
    LC_ALL: 'C',
  }
}

/** Collects output up to OUTPUT_LIMIT bytes. */
function collector() {
  const pieces: Buffer[] = []
  let size = 0
  let cut = false
  return {
    write(piece: string | Buffer) {
      const data = typeof piece === 'string' ? Buffer.from(piece) : piece
      const room = OUTPUT_LIMIT - size
      if (data.length > room) cut = true
      if (room <= 0) return
      pieces.push(data.subarray(0, room))
      size += Math.min(data.length, room)
    },
    end() {},
    text() {
      return Buffer.concat(pieces).toString('utf8') + (cut ? '\n[output cut]\n' : '')
    },
  }
}
