import { posix } from 'node:path'
import type { OpArgs, OpResult } from '@berth/shared'
import type { ContainerInspect, Docker } from '../docker/index.ts'
import { OpError } from '../errors.ts'
import { collector, localPath, runContainedGit } from '../git-container.ts'
import { mountOf } from '../volume-paths.ts'
import type { OpHandlers } from './context.ts'

// Git in a container's checkout: the container's own git when it has one, else the host's git in a
// throwaway container given the container's mounts.

type GitArgs = OpArgs<'git.run'>
type GitRun = Omit<OpResult<'git.run'>, 'via'>

const PULL_TIMEOUT_MS = 5 * 60_000
const GIT_TIMEOUT_MS = 30_000

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
      return { via: 'host', ...(await containedGit(docker, container, path, args, command, bounded)) }
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

// ---------------------------------------------------------------- the host's git, contained

/**
 * Settings given on git's command line, which win over a repository's own config. The git container
 * is the boundary; these only keep a checkout's hooks and helpers from running even there.
 */
const GIT_SETTINGS = [
  'core.fsmonitor=false',
  'core.hooksPath=/dev/null',
  'credential.helper=',
  'log.showSignature=false',
  'merge.verifySignatures=false',
  'submodule.recurse=false',
  'fetch.recurseSubmodules=false',
  'protocol.allow=never',
  // A repository's own protocol.ext.allow would otherwise win over protocol.allow.
  'protocol.ext.allow=never',
  'protocol.file.allow=always',
  'protocol.http.allow=always',
  'protocol.https.allow=always',
  'protocol.ssh.allow=always',
]

/** The environment of git in the git container. */
const GIT_ENV = [
  'GIT_TERMINAL_PROMPT=0',
  'GIT_PAGER=cat',
  'GIT_CONFIG_GLOBAL=/dev/null',
  'GIT_SSH_COMMAND=ssh -o BatchMode=yes',
]

/**
 * The host's git in a throwaway container that has exactly the container's mounts: it sees the
 * checkout as the container would, and nothing of the host.
 */
async function containedGit(
  docker: Docker,
  container: ContainerInspect,
  path: string,
  args: GitArgs,
  command: string[],
  signal: AbortSignal,
): Promise<GitRun> {
  const mounts = container.Mounts ?? []
  if (!mountOf(mounts, path)) {
    throw new OpError(
      'state_error',
      `container ${container.Name.replace(/^\//, '')} has no git of its own (or is not running) and ${path} is on none of its volumes`,
    )
  }
  const git = (network: 'none' | 'bridge', ...gitArgs: string[]) => {
    const stdout = collector()
    const stderr = collector()
    const run = { args: gitArgs, env: GIT_ENV, volumesFrom: container.Id, network, stdout, stderr, signal }
    return runContainedGit(docker, run).then((code) => ({
      exit_code: code,
      stdout: stdout.text(),
      stderr: stderr.text(),
    }))
  }
  const settings = GIT_SETTINGS.flatMap((setting) => ['-c', setting])
  // init makes the folder; any other action runs in one that exists.
  const where = args.action === 'init' ? [...command, path] : ['-C', path, ...command]
  const network = args.action === 'pull' ? await remoteNetwork(mounts, path, args, git) : 'none'
  return git(network, ...settings, ...where)
}

/**
 * The network a pull needs: none for a remote on one of the container's mounts, refused for any
 * other path (the git container could not see it anyway), Docker's bridge for a network remote.
 */
async function remoteNetwork(
  mounts: NonNullable<ContainerInspect['Mounts']>,
  path: string,
  args: GitArgs,
  git: (network: 'none', ...args: string[]) => Promise<GitRun>,
): Promise<'none' | 'bridge'> {
  const remote = args.remote ? ['--', args.remote] : []
  const named = await git('none', '-C', path, 'ls-remote', '--get-url', ...remote)
  const url = named.stdout.trim()
  // Not a repository, or no such remote: the pull itself says so, offline.
  if (named.exit_code !== 0 || !url) return 'none'
  const local = localPath(url)
  if (local === null) return 'bridge'
  if (mountOf(mounts, posix.resolve(path, local))) return 'none'
  throw new OpError(
    'state_error',
    `the remote ${args.remote ?? url} is a path outside the container's volumes`,
  )
}
