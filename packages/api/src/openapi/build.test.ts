import { Hono } from 'hono'
import { expect, test } from 'vitest'
import { z } from 'zod'
import type { AppEnv } from '../context.ts'
import { jsonBody, query, requireAuth } from '../middleware.ts'
import { buildDocument } from './build.ts'
import { type Area, json, noContent } from './spec.ts'

const ok = () => new Response(null, { status: 204 })
const app = new Hono<AppEnv>().route(
  '/api/v1',
  new Hono<AppEnv>()
    .post('/things', requireAuth('write'), jsonBody(z.object({ name: z.string() }).strict()), ok)
    .get('/things', requireAuth('read'), query(z.object({ limit: z.coerce.number().default(5) })), ok)
    .delete('/things/:ref{.+}', ok)
    .get('/kinds/:kind{one|two}', ok),
)
const area: Area = {
  tag: 'things',
  description: 'Things.',
  operations: {
    'POST /things': { id: 'createThing', summary: 'Create a thing', ok: json(201, 'Made', z.object({})) },
    'GET /things': { id: 'listThings', summary: 'List things', ok: json(200, 'Listed', z.object({})) },
    'DELETE /things/{ref}': { id: 'deleteThing', summary: 'Delete a thing', ok: noContent('Gone') },
  },
}
interface Op {
  operationId?: string
  security: unknown
  parameters?: { name: string; description?: string; schema: unknown }[]
  requestBody: { content: Record<string, { schema: { required?: string[] } }> }
  responses: Record<string, unknown>
}
const doc = buildDocument(app.routes, [area]) as unknown as { paths: Record<string, Record<string, Op>> }

test('an operation says the access its requireAuth demands, and its validators', () => {
  const create = doc.paths['/things']?.post
  expect(create?.security).toEqual([{ bearer: ['write'] }])
  expect(create?.requestBody.content['application/json']?.schema.required).toEqual(['name'])
  expect(Object.keys(create?.responses ?? {})).toEqual(['201', '400', '401', '403', '413', '500'])
  const list = doc.paths['/things']?.get
  expect(list?.parameters).toEqual([
    { name: 'limit', in: 'query', required: false, schema: { type: 'number', default: 5 } },
  ])
})

test('path parameters keep their constraint', () => {
  const [ref] = doc.paths['/things/{ref}']?.delete?.parameters ?? []
  expect(ref).toMatchObject({ name: 'ref', in: 'path', required: true })
  expect(ref?.description).toMatch(/may hold `\/`/)
  const [kind] = doc.paths['/kinds/{kind}']?.get?.parameters ?? []
  expect(kind?.schema).toEqual({ type: 'string', enum: ['one', 'two'] })
})

test('a route nobody described is in the document without a success answer or an id', () => {
  const undescribed = doc.paths['/kinds/{kind}']?.get
  expect(undescribed?.operationId).toBeUndefined()
  expect(undescribed?.security).toEqual([])
  expect(Object.keys(undescribed?.responses ?? {})).toEqual(['404', '500'])
})
