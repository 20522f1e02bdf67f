import { Hono } from 'hono'
import type { RouterRoute } from 'hono/types'
import type { AppEnv } from '../context.ts'
import { buildDocument } from '../openapi/build.ts'
import { renderReference } from '../openapi/html.ts'

/** The page may use its own inline style and nothing else: no script, nothing fetched. */
const PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

/**
 * `GET /openapi.json` and `GET /docs`, public: the document of the app's routes and its
 * reference page, each made on its first request and kept, so no request pays for it again.
 */
export function openApiRoutes(routes: () => readonly RouterRoute[]) {
  let document: ReturnType<typeof buildDocument> | undefined
  let text: string | undefined
  let page: string | undefined
  const built = () => {
    document ??= buildDocument(routes())
    return document
  }
  return new Hono<AppEnv>()
    .get('/openapi.json', (c) => {
      text ??= JSON.stringify(built())
      return c.body(text, 200, { 'Content-Type': 'application/json; charset=utf-8' })
    })
    .get('/docs', (c) => {
      page ??= renderReference(built())
      return c.html(page, 200, { 'Content-Security-Policy': PAGE_POLICY })
    })
}
