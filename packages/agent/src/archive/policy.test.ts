import { describe, expect, test } from 'vitest'
import { ArchivePolicy, type Destination, type Existing } from './policy.ts'
import type { ArchiveEntry } from './read.ts'

const entry = (name: string, type: ArchiveEntry['type'] = 'file', more: Partial<ArchiveEntry> = {}) => ({
  name,
  type,
  mode: 0o644,
  mtime: new Date(0),
  size: type === 'file' ? 10 : 0,
  ...more,
})
const link = (name: string, linkname: string) => entry(name, 'symlink', { linkname })

/** A destination holding `present` (relative path → what is there), its root at `root`. */
function destination(present: Record<string, Existing> = {}, root: string | null = '/app'): Destination {
  return { root, label: root ?? 'the upload', existing: async (path) => present[path] ?? null }
}

/** Adds every entry, then checks the whole archive; the refusal's message, or null when it is taken. */
async function verdict(entries: ArchiveEntry[], where = destination()): Promise<string | null> {
  const policy = new ArchivePolicy(where)
  try {
    for (const one of entries) policy.add(one)
    await policy.finish()
    return null
  } catch (err) {
    return (err as Error).message
  }
}

describe('the archive policy', () => {
  test('takes nested files, folders, the root entry and links that stay inside', async () => {
    const policy = new ArchivePolicy(destination())
    expect(policy.add(entry('./', 'directory'))).toBe('')
    expect(policy.add(entry('./src/', 'directory'))).toBe('src')
    expect(policy.add(entry('./src/index.js'))).toBe('src/index.js')
    expect(policy.add(entry('src//lib/./main.js'))).toBe('src/lib/main.js')
    expect(policy.add(link('src/current', 'lib/main.js'))).toBe('src/current')
    expect(policy.add(link('node_modules/.bin/tool', '../tool/bin/tool.js'))).toBe('node_modules/.bin/tool')
    expect(policy.add(link('abs', '/app/src'))).toBe('abs')
    expect(policy.add(link('here', '.'))).toBe('here')
    expect(policy.add(entry('src/', 'directory'))).toBe('src')
    await policy.finish()
    expect([policy.entries, policy.bytes]).toEqual([8, 20])
  })

  test('refuses an absolute entry, a ".." component and a NUL byte, naming the entry', async () => {
    expect(await verdict([entry('/etc/passwd')])).toMatch(/"\/etc\/passwd" is an absolute path/)
    expect(await verdict([entry('../evil')])).toMatch(/"..\/evil" has a ".." component/)
    expect(await verdict([entry('a/../../evil')])).toMatch(/has a ".." component/)
    expect(await verdict([entry('a\0b')])).toMatch(/NUL byte/)
  })

  test('refuses hard links, devices and FIFOs', async () => {
    expect(await verdict([entry('a'), entry('h', 'link', { linkname: 'a' })])).toMatch(/"h" is a hard link/)
    expect(await verdict([entry('dev', 'other')])).toMatch(/"dev" is a device, FIFO or other special file/)
  })

  test("follows a chain of the archive's own links the way the kernel does", async () => {
    // Lexically "tmp/x", inside; through u -> . it is ../../tmp/x.
    expect(
      await verdict([link('u', '.'), link('captain-definition.Dockerfile', 'u/u/u/u/../../tmp/x')]),
    ).toMatch(
      /the symlink "captain-definition.Dockerfile" points outside \/app, to "u\/u\/u\/u\/..\/..\/tmp\/x"/,
    )
    // The link that makes the chain may come after the one that uses it.
    expect(await verdict([link('a', 'b/..'), link('b', 'c'), entry('c/', 'directory')])).toBeNull()
    expect(await verdict([link('a', 'b/../x'), link('b', 'u'), link('u', '.')])).toMatch(
      /the symlink "a" points outside/,
    )
    expect(await verdict([link('a', 'b'), link('b', 'a')])).toMatch(/loop of symlinks/)
  })

  test('refuses targets that leave the root, relative or absolute', async () => {
    expect(await verdict([link('a/b/l', '../../x')])).toBeNull()
    expect(await verdict([link('a/b/l', '../../../x')])).toMatch(/points outside/)
    expect(await verdict([link('l', '/apple')])).toMatch(/points outside/)
    expect(await verdict([link('l', '/app/../etc')])).toMatch(/points outside/)
    expect(await verdict([link('l', '')])).toMatch(/points outside/)
    // "d" is nowhere: nothing may climb back out of it.
    expect(await verdict([link('l', 'd/../x')])).toMatch(/points outside/)
    expect(await verdict([link('l', '/etc')], destination({}, '/'))).toBeNull()
    expect(await verdict([link('l', '/app/x')], destination({}, null))).toMatch(/points outside the upload/)
  })

  test('refuses anything under a link or a file, and a name given twice but for folders', async () => {
    expect(await verdict([link('d/up', '..'), entry('d/up/x')])).toMatch(
      /"d\/up\/x" lies under the symlink "d\/up"/,
    )
    expect(await verdict([entry('f'), entry('f/x')])).toMatch(/lies under the file "f"/)
    expect(await verdict([entry('a'), entry('a')])).toMatch(/"a" appears twice/)
    expect(await verdict([entry('d/x'), link('d', '.')])).toMatch(/"d" appears twice/)
    expect(await verdict([entry('d/', 'directory'), link('d', '.')])).toMatch(/"d" appears twice/)
    expect(await verdict([link('d', '.'), entry('d/', 'directory')])).toMatch(/"d\/" appears twice/)
  })

  test('goes through no link already at the destination', async () => {
    const where = destination({ data: 'directory', 'data/etc': 'symlink', logs: 'symlink', old: 'directory' })
    expect(await verdict([entry('data/etc/passwd')], where)).toMatch(
      /"data\/etc" would be written through the symlink "data\/etc" of \/app/,
    )
    expect(await verdict([link('l', 'data/etc/x')], where)).toMatch(
      /leads through the symlink "data\/etc" of \/app/,
    )
    expect(await verdict([link('old', '.')], where)).toMatch(/would replace the folder "old"/)
    // A file replaces a link; a link may point into a real folder there.
    expect(await verdict([entry('logs'), link('l', 'data/x')], where)).toBeNull()
  })

  test('counts entries and bytes, and stops at its limits', () => {
    const policy = new ArchivePolicy(destination(), { maxBytes: 25, maxEntries: 3 })
    policy.add(entry('./', 'directory'))
    policy.add(entry('a'))
    policy.add(entry('b'))
    expect([policy.entries, policy.bytes]).toEqual([2, 20])
    expect(() => policy.add(entry('c'))).toThrow(/more than 25 bytes/)
    expect(() => policy.add(entry('d', 'directory'))).toThrow(/more than 3 entries/)
  })
})
