import { expect, test } from 'vitest'
import { pageModules, pageWeight } from './support/web-size.ts'

// The size budget of the built dashboard (npm test builds it first): the page it opens on, the
// servers page, loads at most 150 KB of JS and CSS gzipped; every other page stays within it too,
// so that heavy code (the terminal) is loaded only where it is used.

const BUDGET = 150 * 1024

test('the first page loads at most 150 KB of JS and CSS, gzipped', () => {
  const first = pageWeight('src/pages/servers.tsx')
  expect(first.files.some((f) => f.file.endsWith('.css'))).toBe(true)
  expect(first.gzipBytes, JSON.stringify(first.files)).toBeLessThanOrEqual(BUDGET)
})

test('no page of the dashboard goes over the budget on its first load', () => {
  const pages = pageModules()
  expect(pages.length).toBeGreaterThan(3)
  for (const page of pages) expect(pageWeight(page).gzipBytes, page).toBeLessThanOrEqual(BUDGET)
})
