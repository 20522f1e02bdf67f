import { describe, expect, test } from 'vitest'
import { type ArchiveEntry, containerPath, EntryGuard, symlinkStaysInside, typeOfMode } from './files.ts'

const entry = (name: string, type: ArchiveEntry['type'] = 'file', more: Partial<ArchiveEntry> = {}) => ({
  name,
  type,
  mode: 0o644,
  mtime: new Date(0),
  size: type === 'file' ? 10 : 0,
  ...more,
})

describe('EntryGuard', () => {
  test('takes nested files, folders, the root entry and links that stay inside', () => {
    const guard = new EntryGuard('/app')
    expect(guard.check(entry('./', 'directory'))).toBe('')
    expect(guard.check(entry('./src/', 'directory'))).toBe('src')
    expect(guard.check(entry('./src/index.js'))).toBe('src/index.js')
    expect(guard.check(entry('src//lib/./main.js'))).toBe('src/lib/main.js')
    expect(guard.check(entry('src/current', 'symlink', { linkname: 'lib/main.js' }))).toBe('src/current')
    expect(guard.check(entry('copy.js', 'link', { linkname: './src/index.js' }))).toBe('copy.js')
    expect([guard.entries, guard.bytes]).toEqual([5, 20])
  })

  test('refuses an absolute entry, a ".." component and a NUL byte, naming the entry', () => {
    const guard = new EntryGuard('/app')
    expect(() => guard.check(entry('/etc/passwd'))).toThrow(/"\/etc\/passwd" is an absolute path/)
    expect(() => guard.check(entry('../evil'))).toThrow(/"..\/evil" has a ".." component/)
    expect(() => guard.check(entry('a/../../evil'))).toThrow(/has a ".." component/)
    expect(() => guard.check(entry('a\0b'))).toThrow(/NUL byte/)
  })

  test('refuses symlinks that lead outside, and anything written through a symlink of the archive', () => {
    const guard = new EntryGuard('/app')
    expect(() => guard.check(entry('out', 'symlink', { linkname: '../etc' }))).toThrow(
      /the symlink "out" points outside \/app, to "..\/etc"/,
    )
    expect(() => guard.check(entry('abs', 'symlink', { linkname: '/etc/passwd' }))).toThrow(/points outside/)
    expect(guard.check(entry('ok', 'symlink', { linkname: '/app/src' }))).toBe('ok')
    expect(guard.check(entry('d/up', 'symlink', { linkname: '..' }))).toBe('d/up')
    expect(() => guard.check(entry('d/up/x'))).toThrow(/lies under the symlink "d\/up"/)
    expect(() => guard.check(entry('h', 'link', { linkname: '../x' }))).toThrow(/hard link "h"/)
    expect(() => guard.check(entry('h', 'link', { linkname: 'd/up/x' }))).toThrow(/hard link "h"/)
    expect(guard.check(entry('h', 'link', { linkname: 'src/index.js' }))).toBe('h')
    expect(() => guard.check(entry('dev', 'other'))).toThrow(/device or FIFO/)
  })

  test('counts entries and bytes, and stops at its limits', () => {
    const guard = new EntryGuard('/app', { maxBytes: 25, maxEntries: 3 })
    guard.check(entry('./', 'directory'))
    guard.check(entry('a'))
    guard.check(entry('b'))
    expect([guard.entries, guard.bytes]).toEqual([2, 20])
    expect(() => guard.check(entry('c'))).toThrow(/more than 25 bytes/)
    expect(() => guard.check(entry('d', 'directory'))).toThrow(/more than 3 entries/)
  })
})

describe('symlinkStaysInside', () => {
  test('a relative target climbs only as far as the link is deep, and never after a name', () => {
    expect(symlinkStaysInside('/app', 'a/b/link', '../../x')).toBe(true)
    expect(symlinkStaysInside('/app', 'a/b/link', '../../../x')).toBe(false)
    expect(symlinkStaysInside('/app', 'node_modules/.bin/tool', '../tool/bin/tool.js')).toBe(true)
    // "d" may be a symlink itself, so nothing may climb after it.
    expect(symlinkStaysInside('/app', 'link', 'd/../x')).toBe(false)
    expect(symlinkStaysInside('/app', 'link', '.')).toBe(true)
    expect(symlinkStaysInside('/app', 'link', '')).toBe(false)
  })

  test('an absolute target must lie under the root', () => {
    expect(symlinkStaysInside('/app', 'link', '/app')).toBe(true)
    expect(symlinkStaysInside('/app', 'link', '/app/x/y')).toBe(true)
    expect(symlinkStaysInside('/app', 'link', '/apple')).toBe(false)
    expect(symlinkStaysInside('/app', 'link', '/app/../etc')).toBe(false)
    expect(symlinkStaysInside('/', 'link', '/etc')).toBe(true)
  })
})

describe('paths and modes', () => {
  test('containerPath normalises absolute paths and refuses relative ones', () => {
    expect(containerPath('/app/')).toBe('/app')
    expect(containerPath('/app//x/./y')).toBe('/app/x/y')
    expect(containerPath('/')).toBe('/')
    expect(() => containerPath('app')).toThrow(/not an absolute path/)
  })

  test("typeOfMode reads Go's os.FileMode type bits", () => {
    expect(typeOfMode(2 ** 31 + 0o755)).toBe('directory')
    expect(typeOfMode(0o644)).toBe('file')
    expect(typeOfMode(2 ** 27 + 0o777)).toBe('symlink')
    expect(typeOfMode(2 ** 25 + 0o644)).toBe('other')
    // setuid and sticky are permission bits, not a type.
    expect(typeOfMode(2 ** 23 + 2 ** 20 + 0o755)).toBe('file')
  })
})
