import { request } from 'node:http'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { expectErrorBody, registerAdmin } from './support/flows.ts'
import type { Reply } from './support/http.ts'
import { type ApiTarget, startApi } from './support/target.ts'

// A body with no declared length is counted as it is read. This runs in the Node pass only:
// under `wrangler dev` the static assets' router in front of the Worker stalls a chunked request
// that the Worker answers before reading all of it (docs/dashboard.md), which Cloudflare's edge
// does not do.

let api: ApiTarget
let admin: string

beforeAll(async () => {
  api = await startApi({ env: { BERTH_MAX_BODY_BYTES: '4096' } })
  admin = await registerAdmin(api.http)
})
afterAll(() => api?.stop())

test('a streamed body with no length, over the limit, is a 413 and creates nothing', async () => {
  const json = JSON.stringify({ name: 'streamed-big', description: 'x'.repeat(5000) })
  // A stream has no length up front: it goes out chunked, and is counted as it is read.
  const res = await streamed(`${api.url}/api/v1/servers`, admin, json)
  expectErrorBody(res, 413, 'payload_too_large')
  const list = await api.http.get('/servers?limit=200', { token: admin })
  expect(list.body.servers.map((s: { name: string }) => s.name)).not.toContain('streamed-big')
})

/** A POST whose body goes out chunked, in two writes, on a new connection; its answer as a Reply. */
function streamed(url: string, token: string, json: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => {
          const headers = new Headers()
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, String(v))
          resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(text), text })
        })
      },
    )
    req.on('error', reject)
    const half = Math.floor(json.length / 2)
    req.write(json.slice(0, half))
    req.end(json.slice(half))
  })
}
