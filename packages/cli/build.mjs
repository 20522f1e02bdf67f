// Bundles `berth` into one file that runs on any Node >= 20 with nothing installed beside it.
import { chmod, mkdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = dirname(fileURLToPath(import.meta.url))
const outfile = join(root, 'dist', 'berth.mjs')

await mkdir(dirname(outfile), { recursive: true })
await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Command files stay lazy inside the one file: each is initialised on its first import().
  splitting: false,
  // The global Headers (hono's client makes one per request) without undici: see fetch/headers.ts.
  inject: [join(root, 'src', 'fetch', 'headers.ts')],
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  banner: {
    js: [
      '#!/usr/bin/env node',
      // Bundled CommonJS (ws) calls require() for Node's own modules.
      "import { createRequire as __berthCreateRequire } from 'node:module';",
      'const require = __berthCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  logLevel: 'warning',
})

await chmod(outfile, 0o755)
const { size } = await stat(outfile)
console.log(`built ${outfile} (${(size / 1024).toFixed(0)} KiB)`)
