import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { parseHeaderRules, webAssets } from './web.ts'

function builtSite() {
  const base = mkdtempSync(join(tmpdir(), 'berth-web-'))
  const root = join(base, 'dist')
  mkdirSync(join(root, 'assets'), { recursive: true })
  writeFileSync(join(root, 'index.html'), '<div id="app"></div>')
  writeFileSync(join(root, 'assets/app-1.js'), 'console.log(1)')
  writeFileSync(
    join(root, '_headers'),
    '/*\n  X-Frame-Options: DENY\n/assets/*\n  Cache-Control: immutable\n',
  )
  writeFileSync(join(base, 'secret.txt'), 'outside the build')
  return webAssets(root)
}

const get = (serve: ReturnType<typeof webAssets>, path: string) => serve(new Request(`http://x${path}`))

test('a file is served with its type and the headers of the rules it matches', async () => {
  const res = await get(builtSite(), '/assets/app-1.js')
  expect(res.headers.get('content-type')).toMatch(/^text\/javascript/)
  expect(res.headers.get('cache-control')).toBe('immutable')
  expect(res.headers.get('x-frame-options')).toBe('DENY')
  expect(await res.text()).toBe('console.log(1)')
})

test('no path reaches a file outside the build, a dotfile or the headers file', async () => {
  const serve = builtSite()
  for (const path of [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/_headers',
    '/.env',
  ]) {
    const res = await get(serve, path)
    const body = await res.text()
    expect(body, path).not.toContain('outside the build')
    expect(body, path).not.toContain('X-Frame-Options')
  }
  expect((await get(serve, '/a%00b')).status).toBe(404)
  expect((await get(serve, '/%E0%A4%A')).status).toBe(400)
})

test('only reads are answered: anything else is a 405, as Workers static assets answer it', async () => {
  const res = await builtSite()(new Request('http://x/servers', { method: 'POST' }))
  expect(res.status).toBe(405)
  expect(res.headers.get('allow')).toBe('GET, HEAD')
})

test('any other path is the page, not cached', async () => {
  const res = await get(builtSite(), '/apps/a1/deployments')
  expect(await res.text()).toBe('<div id="app"></div>')
  expect(res.headers.get('cache-control')).toBe('no-cache')
})

test('header rules: comments and blank lines skipped, each header under its pattern', () => {
  expect(parseHeaderRules('# c\n/*\n  A: 1\n\n/x\n  B: two: parts\n')).toEqual([
    { pattern: '/*', headers: [['A', '1']] },
    { pattern: '/x', headers: [['B', 'two: parts']] },
  ])
})
