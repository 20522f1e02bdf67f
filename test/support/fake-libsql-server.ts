// A FAKE libSQL server: a stand-in for sqld (Turso's libSQL server), which cannot be installed
// on this machine. It speaks the part of Hrana over HTTP (protocol v2, JSON) that
// `@libsql/client`'s HTTP clients use — POST /v2/pipeline with execute, batch (with conditions),
// sequence, store_sql/close_sql, get_autocommit and close, streams carried by a baton — and
// checks `Authorization: Bearer <token>`. The SQL runs on a REAL libSQL database file through
// `@libsql/client` (file:), one connection per stream as sqld has, foreign keys on as sqld has.
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Client, createClient, type InValue, type ResultSet, type Transaction } from '@libsql/client'

export interface FakeLibsqlServer {
  /** `http://127.0.0.1:<port>`, for DATABASE_URL. */
  url: string
  /** Replaces the token requests must carry, as revoking the old one would. */
  setToken(token: string): void
  close(): Promise<void>
}

// The wire shapes of Hrana (github.com/tursodatabase/libsql, docs/HRANA_3_SPEC.md), JSON encoding.
type Value =
  | { type: 'null' }
  | { type: 'integer'; value: string }
  | { type: 'float'; value: number }
  | { type: 'text'; value: string }
  | { type: 'blob'; base64: string }
interface Stmt {
  sql?: string
  sql_id?: number
  args?: Value[]
  named_args?: { name: string; value: Value }[]
  want_rows?: boolean
}
type Cond =
  | { type: 'ok' | 'error'; step: number }
  | { type: 'not'; cond: Cond }
  | { type: 'and' | 'or'; conds: Cond[] }
  | { type: 'is_autocommit' }
interface StreamRequest {
  type: string
  stmt?: Stmt
  batch?: { steps: { condition?: Cond | null; stmt: Stmt }[] }
  sql?: string
  sql_id?: number
}
interface StmtResult {
  cols: { name: string | null; decltype: string | null }[]
  rows: Value[][]
  affected_row_count: number
  last_insert_rowid: string | null
}
interface HranaError {
  message: string
  code?: string
}

/** One Hrana stream: its own connection, the SQL texts stored on it, and its open transaction. */
interface Stream {
  client: Client
  tx: Transaction | undefined
  sqls: Map<number, string>
  lastUsed: number
}

/** sqld expires a stream (its baton) left idle; this does after 10 s. */
const STREAM_IDLE_MS = 10_000

class SqlError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
  }
}

export async function startFakeLibsqlServer(opts: {
  file: string
  token: string
}): Promise<FakeLibsqlServer> {
  const fileUrl = `file:${opts.file}`
  let token = opts.token
  // WAL, as sqld keeps its files, so a test reading the file does not wait on the writer.
  const setup = createClient({ url: fileUrl })
  await setup.execute('pragma journal_mode = wal')
  setup.close()

  const streams = new Map<string, Stream>()
  // One pipeline at a time: the libSQL file client works synchronously, so a stream that waited
  // on another's write lock would block the very event loop that must finish that write.
  let turn: Promise<void> = Promise.resolve()

  const openStream = async (): Promise<Stream> => {
    const client = createClient({ url: fileUrl, intMode: 'bigint', concurrency: 1 })
    await client.execute('pragma foreign_keys = on')
    await client.execute('pragma busy_timeout = 2000')
    return { client, tx: undefined, sqls: new Map(), lastUsed: Date.now() }
  }
  const closeStream = (stream: Stream) => {
    stream.tx?.close()
    stream.client.close()
  }

  const server = createServer((req, res) => {
    void handle(req, res).catch((err) => {
      if (!res.headersSent) reply(res, 500, { message: String(err), code: 'INTERNAL' })
      else res.destroy()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://fake').pathname
    if (req.method === 'GET' && (path === '/health' || path === '/v2')) return reply(res, 200, {})
    if (req.method !== 'POST' || path !== '/v2/pipeline') return reply(res, 404, { message: 'not found' })
    if (req.headers.authorization !== `Bearer ${token}`) {
      req.resume()
      res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized')
      return
    }
    let body: { baton?: string | null; requests: StreamRequest[] }
    try {
      body = JSON.parse(await readBody(req))
    } catch {
      return reply(res, 400, { message: 'the body is not JSON', code: 'PROTO_ERROR' })
    }
    const done = turn.then(() => pipeline(body))
    turn = done.then(
      () => undefined,
      () => undefined,
    )
    const answer = await done
    reply(res, answer.status, answer.body)
  }

  async function pipeline(body: { baton?: string | null; requests: StreamRequest[] }) {
    const now = Date.now()
    for (const [baton, stream] of streams) {
      if (now - stream.lastUsed > STREAM_IDLE_MS) {
        streams.delete(baton)
        closeStream(stream)
      }
    }
    let stream: Stream | undefined
    if (body.baton) {
      stream = streams.get(body.baton)
      streams.delete(body.baton)
      if (!stream) return { status: 400, body: { message: 'the stream has expired', code: 'STREAM_EXPIRED' } }
    } else {
      stream = await openStream()
    }
    let closed = false
    const results: unknown[] = []
    for (const request of body.requests) {
      if (closed) {
        results.push({ type: 'error', error: { message: 'the stream is closed', code: 'STREAM_CLOSED' } })
        continue
      }
      if (request.type === 'close') {
        closed = true
        results.push({ type: 'ok', response: { type: 'close' } })
        continue
      }
      try {
        results.push({ type: 'ok', response: await streamRequest(stream, request) })
      } catch (err) {
        results.push({ type: 'error', error: toHranaError(err) })
      }
    }
    let baton: string | null = null
    if (closed) {
      closeStream(stream)
    } else {
      // A new baton for every response, as sqld gives, so a stale one cannot be replayed.
      baton = randomBytes(16).toString('hex')
      stream.lastUsed = Date.now()
      streams.set(baton, stream)
    }
    return { status: 200, body: { baton, base_url: null, results } }
  }

  async function streamRequest(stream: Stream, request: StreamRequest) {
    switch (request.type) {
      case 'execute':
        return { type: 'execute', result: await execute(stream, required(request.stmt, 'stmt')) }
      case 'batch':
        return { type: 'batch', result: await batch(stream, required(request.batch, 'batch').steps) }
      case 'sequence': {
        const sql = sqlOf(stream, request)
        settle(stream)
        await (stream.tx ?? stream.client).executeMultiple(sql)
        return { type: 'sequence' }
      }
      case 'store_sql':
        stream.sqls.set(required(request.sql_id, 'sql_id'), required(request.sql, 'sql'))
        return { type: 'store_sql' }
      case 'close_sql':
        stream.sqls.delete(required(request.sql_id, 'sql_id'))
        return { type: 'close_sql' }
      case 'get_autocommit':
        return { type: 'get_autocommit', is_autocommit: isAutocommit(stream) }
      default:
        // `describe` included: @libsql/client never sends it.
        throw new SqlError(`the fake libSQL server does not implement ${request.type}`, 'NOT_SUPPORTED')
    }
  }

  async function batch(stream: Stream, steps: { condition?: Cond | null; stmt: Stmt }[]) {
    const stepResults: (StmtResult | null)[] = []
    const stepErrors: (HranaError | null)[] = []
    const holds = (cond: Cond): boolean => {
      switch (cond.type) {
        case 'ok':
          return stepResults[cond.step] != null
        case 'error':
          return stepErrors[cond.step] != null
        case 'not':
          return !holds(cond.cond)
        case 'and':
          return cond.conds.every(holds)
        case 'or':
          return cond.conds.some(holds)
        case 'is_autocommit':
          return isAutocommit(stream)
      }
    }
    for (const step of steps) {
      if (step.condition && !holds(step.condition)) {
        stepResults.push(null)
        stepErrors.push(null)
        continue
      }
      try {
        stepResults.push(await execute(stream, step.stmt))
        stepErrors.push(null)
      } catch (err) {
        stepResults.push(null)
        stepErrors.push(toHranaError(err))
      }
    }
    return { step_results: stepResults, step_errors: stepErrors }
  }

  /**
   * Runs one statement on the stream's connection. The file client hands each call a pooled
   * connection and rolls back what a call leaves open, so BEGIN … COMMIT across statements
   * go through its transaction object, which keeps that connection until the end.
   */
  async function execute(stream: Stream, stmt: Stmt): Promise<StmtResult> {
    const sql = sqlOf(stream, stmt)
    settle(stream)
    const control = transactionControl(sql)
    if (control === 'commit' || control === 'rollback') {
      if (isAutocommit(stream))
        throw new SqlError(`cannot ${control} - no transaction is active`, 'SQLITE_ERROR')
      const tx = stream.tx as Transaction
      stream.tx = undefined
      await (control === 'commit' ? tx.commit() : tx.rollback())
      return emptyResult()
    }
    if (control) {
      if (!isAutocommit(stream)) {
        throw new SqlError('cannot start a transaction within a transaction', 'SQLITE_ERROR')
      }
      stream.tx = await stream.client.transaction(control)
      return emptyResult()
    }
    const args = stmt.named_args?.length
      ? Object.fromEntries(stmt.named_args.map((a) => [a.name, fromValue(a.value)]))
      : (stmt.args ?? []).map(fromValue)
    const rs = await (stream.tx ?? stream.client).execute({ sql, args })
    return resultOf(rs, stmt.want_rows !== false)
  }

  const isAutocommit = (stream: Stream) => !stream.tx || stream.tx.closed

  /** Gives back the connection of a transaction that SQLite ended by itself (an error rolled it back). */
  function settle(stream: Stream) {
    if (!stream.tx?.closed) return
    stream.tx.close()
    stream.tx = undefined
  }

  function sqlOf(stream: Stream, from: { sql?: string; sql_id?: number }): string {
    if (from.sql !== undefined) return from.sql
    const sql = from.sql_id === undefined ? undefined : stream.sqls.get(from.sql_id)
    if (sql === undefined) throw new SqlError(`no SQL text stored as ${from.sql_id}`, 'SQL_NOT_FOUND')
    return sql
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    setToken(next) {
      token = next
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await turn
      for (const stream of streams.values()) closeStream(stream)
      streams.clear()
    },
  }
}

/** BEGIN, COMMIT/END or ROLLBACK (not ROLLBACK TO a savepoint), as the transaction mode they ask for. */
function transactionControl(sql: string): 'deferred' | 'write' | 'commit' | 'rollback' | undefined {
  const s = sql
    .trim()
    .replace(/;\s*$/, '')
    .replace(/\s+transaction$/i, '')
    .toLowerCase()
  if (s === 'begin' || s === 'begin deferred') return 'deferred'
  if (s === 'begin immediate' || s === 'begin exclusive') return 'write'
  if (s === 'commit' || s === 'end') return 'commit'
  if (s === 'rollback') return 'rollback'
  return undefined
}

function emptyResult(): StmtResult {
  return { cols: [], rows: [], affected_row_count: 0, last_insert_rowid: null }
}

function resultOf(rs: ResultSet, wantRows: boolean): StmtResult {
  return {
    cols: rs.columns.map((name, i) => ({ name, decltype: rs.columnTypes[i] || null })),
    rows: wantRows ? rs.rows.map((row) => rs.columns.map((_, i) => toValue(row[i] ?? null))) : [],
    affected_row_count: rs.rowsAffected,
    last_insert_rowid: rs.lastInsertRowid === undefined ? null : String(rs.lastInsertRowid),
  }
}

function fromValue(v: Value): InValue {
  switch (v.type) {
    case 'null':
      return null
    case 'integer':
      return BigInt(v.value)
    case 'float':
    case 'text':
      return v.value
    case 'blob':
      return new Uint8Array(Buffer.from(v.base64, 'base64'))
  }
}

function toValue(v: unknown): Value {
  if (v === null) return { type: 'null' }
  if (typeof v === 'bigint') return { type: 'integer', value: String(v) }
  if (typeof v === 'number') return { type: 'float', value: v }
  if (typeof v === 'string') return { type: 'text', value: v }
  if (v instanceof ArrayBuffer) return { type: 'blob', base64: Buffer.from(v).toString('base64') }
  throw new Error(`a value of an unexpected type: ${typeof v}`)
}

function toHranaError(err: unknown): HranaError {
  if (err instanceof SqlError) return { message: err.message, code: err.code }
  const e = err as { message?: string; code?: string; cause?: { message?: string } }
  // The client's message is "<code>: <SQLite's message>"; sqld sends SQLite's message alone.
  return { message: e.cause?.message ?? e.message ?? String(err), code: e.code ?? 'UNKNOWN' }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new SqlError(`the request has no ${what}`, 'PROTO_ERROR')
  return value
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function reply(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}
