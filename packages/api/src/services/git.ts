import type { OpArgs, OpResult } from '@berth/shared'
import type { ActorContext } from '../context.ts'
import { ApiError } from '../errors.ts'
import { type ContainerRef, findContainer } from './containers.ts'

export type GitAction = OpArgs<'git.run'>['action']

export interface GitInput {
  path?: string | undefined
  branch?: string | undefined
  create?: boolean | undefined
  remote?: string | undefined
}

/** The agent waits 5 minutes for a pull and 30 s for anything else; the call a little longer. */
const PULL_CALL_MS = 5 * 60_000 + 15_000
const GIT_CALL_MS = 30_000 + 15_000

/**
 * Runs a git action in a container's checkout (at `path`, else its working dir) and returns git's output
 * with what it says parsed. A git that ran and failed is a 422 `git_failed` carrying git's own output.
 */
export async function runGit(
  ctx: ActorContext,
  { serverId, ref, action, ...input }: ContainerRef & GitInput & { action: GitAction },
) {
  const row = await findContainer(ctx, { serverId, ref })
  const result = await ctx.hub.call(
    serverId,
    'git.run',
    {
      ref: row.dockerId,
      action,
      path: input.path,
      branch: input.branch,
      create: input.create,
      remote: input.remote,
    },
    { timeoutMs: action === 'pull' ? PULL_CALL_MS : GIT_CALL_MS },
  )
  if (result.exit_code !== 0) {
    throw new ApiError('state_error', `git ${action} failed with exit code ${result.exit_code}`, {
      code: 'git_failed',
      details: { exit_code: result.exit_code, stdout: result.stdout, stderr: result.stderr },
    })
  }
  return { ...result, ...parsed(action, result) }
}

function parsed(action: GitAction, { stdout }: OpResult<'git.run'>) {
  switch (action) {
    case 'head': {
      const [sha = '', subject = ''] = stdout.split('\n')
      return { sha, subject }
    }
    case 'branches': {
      const refs = stdout.split('\n').filter(Boolean)
      const under = (prefix: string) =>
        refs.filter((r) => r.startsWith(prefix) && !r.endsWith('/HEAD')).map((r) => r.slice(prefix.length))
      return { local: under('refs/heads/'), remote: under('refs/remotes/') }
    }
    case 'branch':
      return { name: stdout.trim() }
    default:
      return {}
  }
}
