import { describe, expect, test } from 'vitest'
import { containerPath, typeOfMode } from './files.ts'

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
