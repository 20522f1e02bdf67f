import { createApp, type Deps } from '@berth/api'
import { apiTokenView, healthView, serverView, userView } from '@berth/shared'
import { validate } from '@readme/openapi-parser'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { z } from 'zod'
import { AREAS, documentPath } from '../packages/api/src/openapi/build.ts'
import { registerAdmin } from './support/flows.ts'
import { type ApiTarget, startApi } from './support/target.ts'

interface Operation {
  operationId?: string
  security?: Record<string, string[]>[]
  responses: Record<string, { $ref?: string; description?: string; content?: Record<string, unknown> }>
}
type Document = {
  paths: Record<string, Record<string, Operation>>
  components: {
    responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }>
    schemas: { Error: { required: string[]; properties: Record<string, unknown> } }
  }
}

let api: ApiTarget
let document: Document

/** Deps enough to build the app's route table in this process; it serves no request. */
const routeTableOnly = { config: { maxBodyBytes: 1, maxUploadBytes: 1 } } as unknown as Deps
// The document is of the API under its base path (/api/v1): every route there.
const routes = createApp(routeTableOnly).routes.flatMap((r) => {
  const path = documentPath(r.path)?.path
  return r.method !== 'ALL' && path ? [{ method: r.method.toLowerCase(), path }] : []
})

beforeAll(async () => {
  api = await startApi()
  const res = await api.http.get('/openapi.json')
  expect(res.status, res.text).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  document = res.body
})
afterAll(() => api?.stop())

describe('the OpenAPI document', () => {
  test('is OpenAPI 3.1 and passes a real validator', async () => {
    expect(document).toMatchObject({ openapi: '3.1.0', servers: [{ url: '/api/v1' }] })
    // The validator dereferences in place: it gets its own copy.
    const result = await validate(structuredClone(document) as never)
    expect(result.valid ? [] : result.errors, JSON.stringify(result, null, 2)).toEqual([])
    expect(result.warnings).toEqual([])
  })

  test('has the documented error body as the one schema of every error answer', () => {
    const { Error: body } = document.components.schemas
    expect(body.required).toEqual(['error', 'code', 'message', 'status', 'request_id', 'timestamp'])
    expect(Object.keys(body.properties)).toContain('details')
    const errors = Object.values(document.components.responses)
    expect(errors).toHaveLength(12)
    for (const error of errors) {
      expect(error.content['application/json']?.schema).toEqual({ $ref: '#/components/schemas/Error' })
    }
  })

  test('has every route of the app, each with its success answer and the error body', () => {
    expect(routes.length).toBeGreaterThan(80)
    for (const { method, path } of routes) {
      const op = document.paths[path]?.[method]
      expect(op, `${method.toUpperCase()} ${path} is not in the document`).toBeDefined()
      expect(op?.operationId, `${method.toUpperCase()} ${path} is not described`).toMatch(/^[a-z][A-Za-z]+$/)
      const statuses = Object.keys(op?.responses ?? {})
      const success = statuses.filter((s) => /^[12]\d\d$/.test(s))
      expect(success, `${method.toUpperCase()} ${path} has no success answer`).not.toEqual([])
      for (const status of success) expect(op?.responses[status]?.description).toBeTruthy()
      // Errors are the shared error body; a status of its own (health's 503) has its description.
      expect(op?.responses['500']?.$ref, `${method.toUpperCase()} ${path} lists no error body`).toBe(
        '#/components/responses/internal',
      )
      for (const status of statuses.filter((s) => /^[45]\d\d$/.test(s))) {
        const response = op?.responses[status]
        if (response?.$ref)
          expect(document.components.responses[response.$ref.split('/').pop() ?? '']).toBeDefined()
        else expect(response?.description).toBeTruthy()
      }
    }
  })

  test('describes no route the app does not have, and names each operation once', () => {
    const described = AREAS.flatMap((area) => Object.keys(area.operations))
    const actual = new Set(routes.map((r) => `${r.method.toUpperCase()} ${r.path}`))
    expect(described.filter((key) => !actual.has(key))).toEqual([])
    const ids = Object.values(document.paths).flatMap((methods) =>
      Object.values(methods).map((o) => o.operationId),
    )
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual(expect.arrayContaining(['listApps', 'createApp', 'deployApp', 'openTerminal']))
  })

  test('says which access each route needs, from the routes themselves', () => {
    expect(document.paths['/apps']?.get?.security).toEqual([{ bearer: ['read'] }])
    expect(document.paths['/apps']?.post?.security).toEqual([{ bearer: ['write'] }])
    expect(document.paths['/users/{id}']?.delete?.security).toEqual([{ bearer: ['admin'] }])
    expect(document.paths['/health']?.get?.security).toEqual([])
    expect(document.paths['/agent/connect']?.get?.security).toEqual([{ agentToken: [] }])
  })

  test('takes request bodies and query strings from the validators', () => {
    const create = document.paths['/servers']?.post as unknown as {
      requestBody: { required: boolean; content: Record<string, { schema: { required: string[] } }> }
    }
    expect(create.requestBody.required).toBe(true)
    expect(create.requestBody.content['application/json']?.schema.required).toEqual(['name'])
    const list = document.paths['/servers/{sid}/containers']?.get as unknown as {
      parameters: { name: string; in: string }[]
    }
    expect(list.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(['path:sid', 'query:status', 'query:limit', 'query:cursor']),
    )
    const deploy = document.paths['/apps/{id}/deploy']?.post as unknown as {
      requestBody: { content: object }
    }
    expect(Object.keys(deploy.requestBody.content)).toEqual([
      'application/json',
      'application/gzip',
      'multipart/form-data',
    ])
  })

  test('documents sockets as upgrades and followed logs as event streams', () => {
    expect(Object.keys(document.paths['/ws']?.get?.responses ?? {})).toContain('101')
    expect(
      Object.keys(document.paths['/servers/{sid}/containers/{cid}/exec']?.get?.responses ?? {}),
    ).toContain('101')
    const logs = document.paths['/deployments/{id}/logs']?.get?.responses['200']?.content ?? {}
    expect(Object.keys(logs)).toEqual(['application/json', 'text/event-stream'])
  })

  test('answers match the schemas they are documented with', async () => {
    const admin = await registerAdmin(api.http)
    expect(healthView.strict().safeParse((await api.http.get('/health')).body).error).toBeUndefined()
    const me = await api.http.get('/auth/me', { token: admin })
    expect(userView.strict().safeParse(me.body.user).error).toBeUndefined()
    const server = await api.http.post('/servers', { token: admin, body: { name: 'openapi-schema' } })
    expect(server.status, server.text).toBe(201)
    expect(serverView.strict().safeParse(server.body.server).error).toBeUndefined()
    const token = await api.http.post('/tokens', { token: admin, body: { name: 'openapi' } })
    expect(
      apiTokenView.extend({ value: z.string() }).strict().safeParse(token.body.token).error,
    ).toBeUndefined()
  })

  test('is public and the same on every request', async () => {
    const again = await api.http.get('/openapi.json', { token: 'not-a-token' })
    expect(again.status).toBe(200)
    expect(again.body).toEqual(document)
  })
})

describe('the reference page', () => {
  test('is HTML that names every operation, with nothing from elsewhere', async () => {
    const res = await fetch(`${api.url}/api/v1/docs`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/)
    const html = await res.text()
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const op of Object.values(methods)) {
        expect(html).toContain(`id="${op.operationId}"`)
      }
      expect(html).toContain(`<code>${path}</code>`)
    }
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/[^"<\s]*\.(js|css)/i)
    // Text from the document is escaped, not markup.
    expect(html).toContain('&lt;agent token&gt;')
  })
})
