import { BERTH_VERSION, ERROR_STATUS, type ErrorKind, errorBodySchema } from '@berth/shared'
import type { RouterRoute } from 'hono/types'
import { z } from 'zod'
import { accessOf, validationOf } from '../middleware.ts'
import { appArea, deploymentArea, domainArea, webhookArea } from './areas-apps.ts'
import { containerArea, hostObjectArea } from './areas-containers.ts'
import { dockerArea } from './areas-docker.ts'
import {
  agentArea,
  auditArea,
  authArea,
  metaArea,
  realtimeArea,
  serverArea,
  tokenArea,
  userArea,
} from './areas-platform.ts'
import type { Area, Content, JsonSchema, Operation } from './spec.ts'

/** Where the document's paths start; its `servers` entry says so. */
export const BASE_PATH = '/api/v1'

export const AREAS: Area[] = [
  metaArea,
  authArea,
  userArea,
  tokenArea,
  serverArea,
  containerArea,
  hostObjectArea,
  dockerArea,
  agentArea,
  appArea,
  domainArea,
  deploymentArea,
  webhookArea,
  auditArea,
  realtimeArea,
]

const WHEN: Record<ErrorKind, string> = {
  validation_error: 'the request is not valid (body, query, headers)',
  auth_error: 'no, bad, expired or revoked credentials',
  forbidden: "the role or the token's scopes do not allow it",
  not_found: 'an unknown id',
  conflict: 'a name taken, or a conflicting state',
  payload_too_large: 'the body is over the limit',
  state_error: 'not possible in the current state',
  rate_limited: 'too many attempts, sockets or streams',
  internal: "a fault of Berth's; the message gives only the request id",
  agent_error: 'the agent or its Docker Engine failed',
  agent_offline: "the server's agent is not connected",
  timeout: 'the agent did not answer in time',
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema
  return rest
}

/**
 * `/api/v1/servers/:sid/images/:ref{.+}` → `/servers/{sid}/images/{ref}`, with each parameter's
 * constraint; null for a route outside the API's base path.
 */
export function documentPath(honoPath: string) {
  if (honoPath !== BASE_PATH && !honoPath.startsWith(`${BASE_PATH}/`)) return null
  const params: { name: string; pattern: string | undefined }[] = []
  const path = honoPath.slice(BASE_PATH.length).replace(/:(\w+)(?:\{([^}]*)\})?/g, (_, name, pattern) => {
    params.push({ name, pattern })
    return `{${name}}`
  })
  return { path: path === '' ? '/' : path, params }
}

function pathParameter({ name, pattern }: { name: string; pattern: string | undefined }) {
  const schema: JsonSchema = { type: 'string' }
  let description: string | undefined
  if (pattern === '.+') description = 'the rest of the path: it may hold `/` and `:`'
  else if (pattern && /^\w+(\|\w+)*$/.test(pattern)) schema.enum = pattern.split('|')
  else if (pattern) schema.pattern = `^(?:${pattern})$`
  return { name, in: 'path', required: true, schema, ...(description ? { description } : {}) }
}

function queryParameters(schema: z.ZodType) {
  const { properties = {}, required = [] } = schemaOf(schema, 'input') as {
    properties?: Record<string, JsonSchema>
    required?: string[]
  }
  return Object.entries(properties).map(([name, { description, ...prop }]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    schema: prop,
    ...(description ? { description } : {}),
  }))
}

/** The middleware that runs for a route: its own handlers and every `use` above its path. */
function handlersOf(routes: readonly RouterRoute[], method: string, path: string) {
  return routes
    .filter((r) => {
      if (r.method === method && r.path === path) return true
      if (r.method !== 'ALL' || !r.path.endsWith('/*')) return false
      const prefix = r.path.slice(0, -2)
      return path === prefix || path.startsWith(`${prefix}/`)
    })
    .map((r) => r.handler)
}

function errorResponses(kinds: Iterable<ErrorKind>) {
  const sorted = [...new Set(kinds)].sort((a, b) => ERROR_STATUS[a] - ERROR_STATUS[b])
  return Object.fromEntries(
    sorted.map((kind) => [String(ERROR_STATUS[kind]), { $ref: `#/components/responses/${kind}` }]),
  )
}

/** The answers of a request that did what it was asked: the main one and any others. */
function successResponses(op: Operation) {
  return Object.fromEntries(
    [op.ok, ...(op.also ?? [])].map((answer) => {
      const content: Content = {}
      if (answer.json) content['application/json'] = { schema: schemaOf(answer.json, 'output') }
      Object.assign(content, answer.content)
      const body = Object.keys(content).length > 0 ? { content } : {}
      return [String(answer.status), { description: answer.description, ...body }]
    }),
  )
}

function operationFor(
  routes: readonly RouterRoute[],
  method: string,
  honoPath: string,
  described?: Described,
) {
  const handlers = handlersOf(routes, method, honoPath)
  const params = documentPath(honoPath)?.params ?? []
  const op = described?.op
  const parameters: unknown[] = params.map(pathParameter)
  let requestBody: unknown
  const errors: ErrorKind[] = ['internal', ...(op?.errors ?? [])]
  for (const handler of handlers) {
    const validation = validationOf(handler)
    if (!validation) continue
    errors.push('validation_error')
    if (validation.target === 'query') parameters.push(...queryParameters(validation.schema))
    else
      requestBody = {
        required: !validation.optional,
        content: { 'application/json': { schema: schemaOf(validation.schema, 'input') } },
      }
  }
  if (op?.body) {
    requestBody = { description: op.body.description, required: op.body.required, content: op.body.content }
    errors.push('validation_error')
  }
  if (params.length > 0) errors.push('not_found')
  if (MUTATING.has(method)) errors.push('validation_error', 'payload_too_large')
  const access = handlers.map(accessOf).find((a) => a !== undefined)
  let security: Record<string, string[]>[] = []
  let needs = ''
  if (access) {
    errors.push('auth_error', 'forbidden')
    security = [{ bearer: [access.level] }, ...(access.basic ? [{ basic: [] }] : [])]
    needs = access.selfService
      ? `Any role; a token needs the \`${access.level}\` scope.`
      : `Needs \`${access.level}\` access.`
  } else if (op?.auth === 'agent') security = [{ agentToken: [] }]
  const description = [op?.description, needs].filter(Boolean).join('\n\n')
  return {
    ...(op
      ? { operationId: op.id, summary: op.summary, tags: [described.tag] }
      : { summary: 'not described' }),
    ...(description ? { description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    security,
    responses: { ...(op ? successResponses(op) : {}), ...errorResponses(errors) },
  }
}

interface Described {
  op: Operation
  tag: string
}

/** The OpenAPI 3.1 document of the app's routes, with what the areas say of each. */
export function buildDocument(routes: readonly RouterRoute[], areas: Area[] = AREAS) {
  const described = new Map<string, Described>()
  for (const area of areas)
    for (const [key, op] of Object.entries(area.operations)) described.set(key, { op, tag: area.tag })
  const paths: Record<string, Record<string, unknown>> = {}
  const seen = new Set<string>()
  for (const route of routes) {
    const path = documentPath(route.path)?.path
    if (route.method === 'ALL' || !path) continue
    const key = `${route.method} ${route.path}`
    if (seen.has(key)) continue
    seen.add(key)
    paths[path] ??= {}
    paths[path][route.method.toLowerCase()] = operationFor(
      routes,
      route.method,
      route.path,
      described.get(`${route.method} ${path}`),
    )
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth API',
      version: BERTH_VERSION,
      description:
        'The control plane of Berth, a self-hosted container platform. JSON with snake_case fields; every error has the body of `Error`; every response carries `X-Request-Id`.',
    },
    servers: [{ url: BASE_PATH }],
    tags: areas.map(({ tag, description }) => ({ name: tag, description })),
    paths,
    components: {
      schemas: { Error: schemaOf(errorBodySchema, 'output') },
      responses: Object.fromEntries(
        (Object.keys(ERROR_STATUS) as ErrorKind[]).map((kind) => [
          kind,
          {
            description: `\`${kind}\`: ${WHEN[kind]}`,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
        ]),
      ),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A session token from `POST /auth/login` or an API token (`berth_pat_…`); the scopes listed are the access an operation needs (`read`, `write`, `admin`).',
        },
        basic: {
          type: 'http',
          scheme: 'basic',
          description:
            'An API token as the password, any user name: for clients that only take a user and password.',
        },
        agentToken: {
          type: 'http',
          scheme: 'bearer',
          description: "An agent's token from `POST /agent/enroll`.",
        },
      },
    },
  }
}

export type OpenApiDocument = ReturnType<typeof buildDocument>
