import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { access, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { AGENT_PATHS, type EnrollResponse } from '@berth/shared'
import { z } from 'zod'
import { type Log, messageOf } from '../log.ts'

/** What the agent keeps between runs: which API it enrolled with, as which server, and its agent token. */
export interface AgentState {
  api: string
  server_id: string
  agent_token: string
}

const agentState = z.object({ api: z.string(), server_id: z.string(), agent_token: z.string().min(1) })
const enrollReply = z.object({ server_id: z.string(), agent_token: z.string().min(1) })
const errorReply = z.object({ message: z.string() })
const REQUEST_TIMEOUT_MS = 30_000

/** Enrollment could not happen; `retryable` when the API was unreachable or busy rather than refusing. */
export class EnrollmentError extends Error {
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message)
    this.name = 'EnrollmentError'
  }
}

/** /var/lib/berth/agent.json for root, else ~/.config/berth/agent.json. */
export function defaultStatePath(): string {
  return process.getuid?.() === 0
    ? '/var/lib/berth/agent.json'
    : join(os.homedir(), '.config', 'berth', 'agent.json')
}

/** The state kept at `path`; null when there is none or it cannot be used (the reason is logged). */
export async function readState(path: string, log: Log): Promise<AgentState | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return null
    throw new EnrollmentError(`cannot read the state file ${path}: ${messageOf(err)}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    raw = null
  }
  const parsed = agentState.safeParse(raw)
  if (!parsed.success) {
    log(`the state file ${path} is not an agent state; ignoring it`)
    return null
  }
  return parsed.data
}

/** Makes the state file's folder (0700) and checks it can be written, before an enrollment token is spent. */
export async function prepareStateFolder(path: string): Promise<void> {
  const folder = dirname(path)
  try {
    await mkdir(folder, { recursive: true, mode: 0o700 })
    await access(folder, constants.W_OK)
  } catch (err) {
    throw new EnrollmentError(`cannot write the state file ${path}: ${messageOf(err)}`)
  }
}

/** Writes the state readable by its owner only, through a temporary file so a crash never leaves half a file. */
export async function writeState(path: string, state: AgentState): Promise<void> {
  await prepareStateFolder(path)
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const file = await open(temporary, 'wx', 0o600)
    try {
      await file.writeFile(`${JSON.stringify(state, null, 2)}\n`)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(temporary, path)
  } catch (err) {
    await rm(temporary, { force: true })
    throw new EnrollmentError(`cannot write the state file ${path}: ${messageOf(err)}`)
  }
}

/** Trades a one-time enrollment token for this server's agent token. */
export async function enroll(
  api: string,
  enrollmentToken: string,
  signal: AbortSignal,
): Promise<EnrollResponse> {
  let reply: Reply
  try {
    reply = await postJson(`${api}${AGENT_PATHS.enroll}`, { token: enrollmentToken }, signal)
  } catch (err) {
    if (signal.aborted) throw err
    throw new EnrollmentError(`cannot reach the API at ${api}: ${messageOf(err)}`, true)
  }
  if (reply.status === 201) {
    const enrolled = enrollReply.safeParse(reply.body)
    if (enrolled.success) return enrolled.data
    throw new EnrollmentError(`the API at ${api} sent an enrollment reply this agent does not understand`)
  }
  const refusal = errorReply.safeParse(reply.body)
  const why = refusal.success ? refusal.data.message : `HTTP ${reply.status}`
  const retryable = [429, 502, 503, 504].includes(reply.status)
  throw new EnrollmentError(`the API at ${api} refused the enrollment: ${why}`, retryable)
}

interface Reply {
  status: number
  body: unknown
}

// node:http rather than fetch: loading undici for this one request would add ~10 MB to the agent's RSS.
function postJson(url: string, body: unknown, signal: AbortSignal): Promise<Reply> {
  const text = JSON.stringify(body)
  const send = url.startsWith('https:') ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'content-length': Buffer.byteLength(text),
        },
        signal,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          let parsed: unknown = null
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            // not JSON: the status alone tells what happened
          }
          resolve({ status: res.statusCode ?? 0, body: parsed })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)))
    req.on('error', reject)
    req.end(text)
  })
}
