import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { crc32 } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import yauzl from 'yauzl'
import { ZipReader, ZipWriter } from './zip.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(os.tmpdir(), 'berth-zip-'))
})
// The zip64 tests leave some 130,000 files and folders behind; removing them takes a while.
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
}, 120_000)

const python = (script: string, ...args: string[]) =>
  execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' })

async function bodyOf(reader: ZipReader, name: string): Promise<Buffer> {
  const entry = reader.entries.find((e) => e.name === name)
  if (!entry) throw new Error(`no entry ${name}`)
  const parts: Buffer[] = []
  for await (const part of await reader.body(entry)) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

const binary = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256))

describe('ZipReader', () => {
  test('reads what python3 zipfile writes: stored and deflated files, folders and a symlink', async () => {
    const file = join(dir, 'py.zip')
    await writeFile(join(dir, 'bin'), binary)
    python(
      `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], 'w')
z.writestr('top/', '')
z.writestr(zipfile.ZipInfo('top/stored.txt'), 'stored text')
z.write(sys.argv[2], 'top/deep/blob.bin', compress_type=zipfile.ZIP_DEFLATED)
link = zipfile.ZipInfo('top/link')
link.create_system = 3
link.external_attr = (0o120777 << 16)
z.writestr(link, 'deep/blob.bin')
z.close()`,
      file,
      join(dir, 'bin'),
    )
    const reader = await ZipReader.open(file)
    try {
      expect(reader.entries.map((e) => [e.name, e.type])).toEqual([
        ['top/', 'directory'],
        ['top/stored.txt', 'file'],
        ['top/deep/blob.bin', 'file'],
        ['top/link', 'symlink'],
      ])
      expect(reader.entries[3]?.linkname).toBe('deep/blob.bin')
      expect((await bodyOf(reader, 'top/stored.txt')).toString()).toBe('stored text')
      expect((await bodyOf(reader, 'top/deep/blob.bin')).equals(binary)).toBe(true)
    } finally {
      await reader.close()
    }
  })

  test('a damaged entry fails its read; non-zips are refused clearly', async () => {
    const file = join(dir, 'damaged.zip')
    python(
      `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr('a.txt', 'abcdefgh' * 10)`,
      file,
    )
    const bytes = await readFile(file)
    // The stored data starts after the 30-byte local header and the 5-byte name.
    bytes[35] = bytes[35]! ^ 0xff
    await writeFile(file, bytes)
    const reader = await ZipReader.open(file)
    await expect(bodyOf(reader, 'a.txt')).rejects.toThrow(/CRC mismatch/)
    await reader.close()

    await writeFile(join(dir, 'text.zip'), 'not a zip at all, just some text that is long enough')
    await expect(ZipReader.open(join(dir, 'text.zip'))).rejects.toThrow(/not a zip file/)
  })

  test('reads a zip64 archive, as python3 zipfile writes one past 65,535 entries', async () => {
    const file = join(dir, 'zip64.zip')
    python(
      `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    for i in range(65_537): z.writestr(f'e/{i}', str(i))`,
      file,
    )
    const reader = await ZipReader.open(file)
    try {
      expect(reader.entries).toHaveLength(65_537)
      expect(reader.entries.at(-1)).toMatchObject({ name: 'e/65536', type: 'file', size: 5 })
      expect((await bodyOf(reader, 'e/65536')).toString()).toBe('65536')
    } finally {
      await reader.close()
    }
  }, 60_000)
})

describe('ZipWriter', () => {
  test('writes a zip that python3 zipfile tests and extracts byte for byte, and that the reader reads back', async () => {
    const pieces: Buffer[] = []
    const zip = new ZipWriter(async (piece) => {
      pieces.push(Buffer.from(piece))
    })
    const at = new Date(2024, 4, 6, 7, 8, 10)
    await zip.directory('app', 0o755, at)
    await zip.file(
      'app/blob.bin',
      0o644,
      at,
      Readable.from([binary.subarray(0, 1000), binary.subarray(1000)]),
    )
    await zip.file('app/empty', 0o600, at, Readable.from([]))
    await zip.file('app/ünïcode.txt', 0o644, at, Readable.from([Buffer.from('héllo')]))
    await zip.symlink('app/link', 'blob.bin', 0o777, at)
    await zip.finish()
    const file = join(dir, 'written.zip')
    await writeFile(file, Buffer.concat(pieces))

    const out = join(dir, 'extracted')
    const listing = python(
      `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist(): print(i.filename, oct(i.external_attr >> 16), i.date_time)
z.extractall(sys.argv[2])`,
      file,
      out,
    )
    expect(listing).toContain('app/link 0o120777')
    expect(listing).toContain('app/blob.bin 0o100644 (2024, 5, 6, 7, 8, 10)')
    expect((await readFile(join(out, 'app/blob.bin'))).equals(binary)).toBe(true)
    expect(await readFile(join(out, 'app/ünïcode.txt'), 'utf8')).toBe('héllo')
    expect((await readFile(join(out, 'app/empty'))).length).toBe(0)

    const reader = await ZipReader.open(file)
    try {
      expect(reader.entries.map((e) => [e.name, e.type, e.mode.toString(8)])).toEqual([
        ['app/', 'directory', '755'],
        ['app/blob.bin', 'file', '644'],
        ['app/empty', 'file', '600'],
        ['app/ünïcode.txt', 'file', '644'],
        ['app/link', 'symlink', '777'],
      ])
      expect(reader.entries[4]?.linkname).toBe('blob.bin')
      expect(reader.entries[1]?.mtime).toEqual(at)
      expect((await bodyOf(reader, 'app/blob.bin')).equals(binary)).toBe(true)
    } finally {
      await reader.close()
    }
  })

  test('writes zip64 past 65,535 entries, which python3 zipfile lists and extracts', async () => {
    const file = join(dir, 'many.zip')
    const out = createWriteStream(file)
    const zip = new ZipWriter(async (piece) => {
      if (!out.write(piece)) await once(out, 'drain')
    })
    const at = new Date(2024, 4, 6, 7, 8, 10)
    // Tiny entries: folders, which need no deflating, and one file at the end.
    for (let i = 0; i < 65_539; i++) await zip.directory(`e/${i}`, 0o755, at)
    await zip.file('e/last', 0o644, at, Readable.from([Buffer.from('65539')]))
    await zip.finish()
    await new Promise((resolve) => out.end(resolve))
    const extracted = join(dir, 'many')
    const listing = python(
      `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
z.extractall(sys.argv[2])
print(len(z.infolist()), z.infolist()[-1].filename, z.infolist()[-1].file_size)`,
      file,
      extracted,
    )
    expect(listing.trim()).toBe('65540 e/last 5')
    expect(await readFile(join(extracted, 'e/last'), 'utf8')).toBe('65539')
  }, 60_000)

  test('writes an entry past 4 GiB with zip64 sizes and the CRC of its data', async () => {
    // 4 GiB of one reused zero-filled buffer and a short tail: cheap to make, to CRC and to deflate.
    const zeros = Buffer.alloc(1 << 20)
    const tail = Buffer.from('the end')
    function* data() {
      for (let i = 0; i < 4096; i++) yield zeros
      yield tail
    }
    const size = 4096 * zeros.length + tail.length
    let crc = 0
    for (const chunk of data()) crc = crc32(chunk, crc)

    const pieces: Buffer[] = []
    const zip = new ZipWriter(async (piece) => {
      pieces.push(Buffer.from(piece))
    })
    await zip.file('big.bin', 0o644, new Date(2024, 4, 6), Readable.from(data()))
    await zip.finish()

    const [entry, ...rest] = await entriesIn(Buffer.concat(pieces))
    expect(rest).toHaveLength(0)
    expect(entry?.fileName).toBe('big.bin')
    expect(entry?.uncompressedSize).toBe(size)
    expect(entry?.crc32).toBe(crc)
    // The central directory record carries the real sizes in its zip64 extended information field.
    const zip64 = entry?.extraFields.find((field) => field.id === 0x0001)
    expect(zip64?.data.readBigUInt64LE(0)).toBe(BigInt(size))
  }, 120_000)
})

async function entriesIn(bytes: Buffer): Promise<yauzl.Entry[]> {
  const zip = await promisify<Buffer, yauzl.Options, yauzl.ZipFile>(yauzl.fromBuffer)(bytes, {
    lazyEntries: false,
  })
  const entries: yauzl.Entry[] = []
  zip.on('entry', (entry: yauzl.Entry) => entries.push(entry))
  await once(zip, 'end')
  return entries
}
