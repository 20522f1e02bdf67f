import { BEARER_PROTOCOL_PREFIX, newId } from '@berth/shared'
import type { Context, MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { validator } from 'hono/validator'
import type { z } from 'zod'
import type { ActorContext, AppEnv, Level, ServiceContext } from './context.ts'
import { ApiError, errorBody } from './errors.ts'
import { log } from './lib/log.ts'
import { recordAudit } from './services/audit.ts'
import { assertLevel, authenticateBearer } from './services/auth.ts'

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export function serviceContext(c: Context<AppEnv>): ServiceContext {
  const { db, hub, config, clock } = c.get('deps')
  return { db, hub, config, clock }
}

/** The service context of an authenticated route. */
export function actorContext(c: Context<AppEnv>): ActorContext {
  const actor = c.get('actor')
  if (!actor) throw new ApiError('auth_error', 'a valid bearer token is required')
  return { ...serviceContext(c), actor }
}

/** The bearer credential of an authenticated route. */
export function bearerOf(c: Context<AppEnv>): string {
  const bearer = c.get('bearer')
  if (!bearer) throw new ApiError('auth_error', 'a valid bearer token is required')
  return bearer
}

/** The URL agents and users reach this API at. */
export function publicUrl(c: Context<AppEnv>): string {
  return c.get('deps').config.publicUrl ?? new URL(c.req.url).origin
}

export function bearerToken(c: Context): string | null {
  const header = c.req.header('Authorization')
  const match = header?.match(/^Bearer\s+(\S+)$/i)
  return match?.[1] ?? null
}

/** Renders any thrown value as the documented error body; a 500 never carries the exception's text. */
export function renderError(err: unknown, c: Context<AppEnv>): Response {
  const requestId = c.get('requestId') ?? newId('request')
  let apiError: ApiError
  if (err instanceof ApiError) apiError = err
  else if (err instanceof HTTPException) apiError = fromHttpException(err)
  else {
    log.error(`unexpected error request_id=${requestId}`, err)
    apiError = new ApiError('internal', `internal error (request ${requestId})`)
  }
  const now = c.get('deps')?.clock.now() ?? Date.now()
  return c.json(errorBody(apiError, requestId, now), apiError.status as 500, {
    ...apiError.headers,
    'X-Request-Id': requestId,
  })
}

function fromHttpException(err: HTTPException): ApiError {
  switch (err.status) {
    case 400:
      return new ApiError('validation_error', err.message || 'the request is not valid', {
        code: 'malformed_request',
      })
    case 401:
      return new ApiError('auth_error', 'a valid bearer token is required')
    case 404:
      return new ApiError('not_found', 'not found')
    case 413:
      return new ApiError('payload_too_large', 'the request body is too large')
    default:
      return new ApiError('internal', 'internal error')
  }
}

export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = newId('request')
  c.set('requestId', id)
  // Set before the response exists where the runtime can: added to hono's Response afterwards,
  // it turns the response's headers into a Headers object, a measurable share of a small request.
  const preset = c.get('deps').presetHeader(c, 'X-Request-Id', id)
  await next()
  if (!preset) c.res.headers.set('X-Request-Id', id)
}

/** Writes every mutating request to the audit log after it ran, with its outcome. */
export const audit: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!MUTATING.has(c.req.method)) return next()
  const started = performance.now()
  await next()
  const route = c.req.matchedRoutes.findLast((r) => r.method !== 'ALL')?.path
  // No route ran, so nothing changed and no one was authenticated: storing each such request
  // would let anyone grow the log with paths of their choosing.
  if (!route) return
  const actor = c.get('actor')
  const agentServer = c.get('agentServerId')
  const write = recordAudit(serviceContext(c), {
    actorType: actor ? actor.type : agentServer ? 'agent' : 'anonymous',
    actorId: actor ? (actor.type === 'token' ? actor.tokenId : actor.userId) : (agentServer ?? null),
    action: `${c.req.method} ${route}`,
    target: c.get('auditTarget') ?? firstParam(c) ?? null,
    status: c.res.status,
    durationMs: Math.round(performance.now() - started),
    requestId: c.get('requestId'),
    ip: c.get('deps').clientAddress(c),
  }).catch((err) => log.error(`audit write failed request_id=${c.get('requestId')}`, err))
  // The response does not wait for its audit entry.
  c.get('deps').waitUntil(c, write)
}

function firstParam(c: Context<AppEnv>): string | undefined {
  const params = c.req.param() as Record<string, string>
  return params.id ?? Object.values(params)[0]
}

/** The subprotocols a WebSocket upgrade offers. */
export const offeredProtocols = (c: Context) =>
  (c.req.header('Sec-WebSocket-Protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)

/**
 * A browser cannot set Authorization on a WebSocket, and a token in the URL would end in logs:
 * it may offer `bearer.<token>` as a subprotocol instead.
 */
export const bearerFromProtocol: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.req.header('Authorization')) {
    const offered = offeredProtocols(c).find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX))
    if (offered) {
      const bearer = offered.slice(BEARER_PROTOCOL_PREFIX.length)
      c.set('actor', await authenticateBearer(serviceContext(c), bearer))
      c.set('bearer', bearer)
    }
  }
  await next()
}

/** The access each requireAuth middleware demands, read back by the OpenAPI document. */
const demanded = new WeakMap<MiddlewareHandler, { level: Level; selfService: boolean; basic: boolean }>()

/** What `handler` demands, if it is a requireAuth middleware. */
export function accessOf(handler: unknown) {
  return demanded.get(handler as MiddlewareHandler)
}

/**
 * Requires a user or API token, and at least `level` access (see assertLevel). With `basic`, an
 * API token may also come as the password of `Authorization: Basic` (any user name), as clients
 * that only take a user and password send it; its 401 then asks for Basic.
 */
export function requireAuth(
  level: Level,
  opts: { selfService?: boolean; basic?: boolean } = {},
): MiddlewareHandler<AppEnv> {
  const challenge = { 'WWW-Authenticate': opts.basic ? 'Basic realm="berth"' : 'Bearer' }
  const handler: MiddlewareHandler<AppEnv> = async (c, next) => {
    let actor = c.get('actor')
    if (!actor) {
      const token = bearerToken(c) ?? (opts.basic ? basicPassword(c) : null)
      if (!token) throw new ApiError('auth_error', 'a valid bearer token is required', { headers: challenge })
      try {
        actor = await authenticateBearer(serviceContext(c), token)
      } catch (err) {
        // The refusal asks for the scheme this route takes.
        if (opts.basic && err instanceof ApiError && err.kind === 'auth_error')
          Object.assign(err.headers, challenge)
        throw err
      }
      c.set('actor', actor)
      c.set('bearer', token)
    }
    assertLevel(actor, { needed: level, selfService: opts.selfService })
    await next()
  }
  demanded.set(handler, { level, selfService: opts.selfService ?? false, basic: opts.basic ?? false })
  return handler
}

/** The password of an `Authorization: Basic` header, or null when there is none that decodes. */
function basicPassword(c: Context): string | null {
  const encoded = c.req.header('Authorization')?.match(/^Basic\s+([A-Za-z0-9+/]+={0,2})$/i)?.[1]
  if (!encoded) return null
  let decoded: string
  try {
    decoded = atob(encoded)
  } catch {
    return null
  }
  const colon = decoded.indexOf(':')
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : null
}

export function validationError(error: z.ZodError, where: string): ApiError {
  return new ApiError('validation_error', `the ${where} is not valid`, {
    details: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  })
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json\b/i
const notJson = () =>
  new ApiError('validation_error', 'the body must be JSON (Content-Type: application/json)', {
    code: 'unsupported_content_type',
  })

/**
 * A validating middleware as the RPC client sees it: it sends `In` (what the schema accepts, so
 * fields with defaults are optional) and the handler gets `Out`.
 */
type Validated<T extends 'json' | 'query', In, Out> = MiddlewareHandler<
  AppEnv,
  string,
  { in: { [K in T]: In }; out: { [K in T]: Out } }
>
/** A query string's fields as sent: text, whatever the schema makes of it. */
type QueryInput<T> = { [K in keyof T]: string | string[] }

/** The schema each validating middleware checks, read back by the OpenAPI document. */
const validated = new WeakMap<
  MiddlewareHandler,
  { target: 'json' | 'query'; schema: z.ZodType; optional: boolean }
>()

/** What `handler` validates, if it is a jsonBody, optionalJsonBody or query middleware. */
export function validationOf(handler: unknown) {
  return validated.get(handler as MiddlewareHandler)
}

function register<H extends MiddlewareHandler>(
  handler: H,
  target: 'json' | 'query',
  schema: z.ZodType,
  optional = false,
): H {
  validated.set(handler, { target, schema, optional })
  return handler
}

/** Validates a JSON body with a zod schema (typed for the RPC client). */
export function jsonBody<S extends z.ZodType>(schema: S): Validated<'json', z.input<S>, z.output<S>> {
  const handler = validator('json', (value, c) => {
    const type = c.req.header('Content-Type') ?? ''
    if (!JSON_TYPE.test(type)) throw notJson()
    const parsed = schema.safeParse(value)
    if (!parsed.success) throw validationError(parsed.error, 'request body')
    return parsed.data as z.output<S>
  })
  return register(handler as Validated<'json', z.input<S>, z.output<S>>, 'json', schema)
}

/** Like jsonBody, for actions whose body may be left out entirely (it then counts as `{}`). */
export function optionalJsonBody<S extends z.ZodType>(
  schema: S,
): Validated<'json', z.input<S> | undefined, z.output<S>> {
  const handler = validator('json', (value, c) => {
    const type = c.req.header('Content-Type')
    const length = c.req.header('Content-Length')
    if (type && !JSON_TYPE.test(type) && length !== '0') throw notJson()
    const parsed = schema.safeParse(type ? value : {})
    if (!parsed.success) throw validationError(parsed.error, 'request body')
    return parsed.data as z.output<S>
  })
  return register(handler as Validated<'json', z.input<S> | undefined, z.output<S>>, 'json', schema, true)
}

/** Validates the query string with a zod schema. */
export function query<S extends z.ZodType>(
  schema: S,
): Validated<'query', QueryInput<z.input<S>>, z.output<S>> {
  const handler = validator('query', (value) => {
    const parsed = schema.safeParse(value)
    if (!parsed.success) throw validationError(parsed.error, 'query string')
    return parsed.data as z.output<S>
  })
  return register(handler as Validated<'query', QueryInput<z.input<S>>, z.output<S>>, 'query', schema)
}
