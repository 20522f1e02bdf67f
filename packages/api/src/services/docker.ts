import type { Actor, ActorContext } from '../context.ts'
import type { AgentTunnel } from '../hub/hub.ts'
import { type AnswerSink, DockerConversation } from '../lib/docker-calls.ts'
import { log } from '../lib/log.ts'
import { recordAudit } from './audit.ts'
import { type ClientHold, holdClient } from './clients.ts'
import { assertDockerAccess } from './docker-access.ts'
import { findServer } from './servers.ts'

/** One Docker connection through Berth, held for its user and followed for the audit log. */
export interface DockerTunnel {
  serverId: string
  tunnel: AgentTunnel
  hold: ClientHold
  /** Sees the calls in the connection's bytes; feed it both ways before passing them on. */
  conversation: DockerConversation
  /** The connection ended: calls not answered yet are written to the audit log, answered 0. */
  finish(): void
}

/** Methods that change something on the host; reading calls are not audited one by one. */
const READING = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Opens a connection to a server's Docker socket through its agent, for a client that speaks
 * Docker's API. Refused unless the actor may open Docker there; the session and each call that
 * changes something (method and path: never the query, headers or body) go to the audit log.
 * `answers` hears Docker's answers as the conversation reads them (the HTTP endpoint relays
 * them); `session: false` writes no session entry, for a connection that carries one request
 * which the audit log has as a request already.
 */
export async function openDockerTunnel(
  ctx: ActorContext,
  input: {
    serverId: string
    bearer: string
    requestId: string
    ip: string | null
    answers?: AnswerSink
    session?: boolean
  },
): Promise<DockerTunnel> {
  const { serverId, requestId, ip } = input
  assertDockerAccess(ctx.actor, serverId)
  await findServer(ctx, serverId)
  const hold = holdClient(ctx, { bearer: input.bearer, socket: true, streams: 1 })
  let tunnel: AgentTunnel
  try {
    tunnel = await ctx.hub.tunnel(serverId, 'docker.dial')
  } catch (err) {
    hold.release()
    throw err
  }
  const audit = (action: string, status: number, durationMs: number) =>
    recordAudit(ctx, {
      ...actorOf(ctx.actor),
      action: action.slice(0, 600),
      target: serverId,
      status,
      durationMs,
      requestId,
      ip,
    }).catch((err) => log.error(`audit write failed request_id=${requestId}`, err))
  if (input.session !== false) void audit('GET /servers/:id/docker', 101, 0)
  const conversation = new DockerConversation(({ method, path, status, durationMs }) => {
    if (!READING.has(method)) void audit(`DOCKER ${method} ${path}`, status, durationMs)
  }, input.answers)
  return { serverId, tunnel, hold, conversation, finish: () => conversation.finish() }
}

function actorOf(actor: Actor) {
  return { actorType: actor.type, actorId: actor.type === 'token' ? actor.tokenId : actor.userId }
}
