// Bundles the agent into one file that runs on any Node >= 20 with nothing installed beside it.
import { chmod, mkdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = dirname(fileURLToPath(import.meta.url))
const outfile = join(root, 'dist', 'berth-agent.mjs')

/** Sources that only tests may import. */
const FIXTURE = /(^|\/)src\/(testing\/|.*\.test\.ts$|test-docker\.ts$)/

const SSH_UNAVAILABLE = 'berth-agent does not reach Docker over ssh://; run the agent on the Docker host'
const BUILDKIT_UNAVAILABLE = 'BuildKit sessions are not available in the bundled berth-agent'

/** Modules replaced in the bundle: `importer` is matched against the importing file's path. */
const stubs = [
  // dockerode's BuildKit session and progress decoding read .proto files beside their sources, which a
  // single file does not have; the stubs keep grpc-js and protobufjs (~550 KiB) out.
  {
    path: './session',
    importer: /[\\/]dockerode[\\/]lib[\\/]/,
    contents: `module.exports = function (docker, auth, handler) { handler(new Error('${BUILDKIT_UNAVAILABLE}'), null, function () {}) }`,
  },
  {
    path: 'protobufjs',
    importer: /[\\/]dockerode[\\/]lib[\\/]/,
    contents: `module.exports = { loadSync: function () { throw new Error('${BUILDKIT_UNAVAILABLE}') } }`,
  },
  // ssh2 is for ssh:// Docker hosts, which an agent running on the host does not need; loading it
  // instantiates a 16 MiB WebAssembly memory for poly1305, about a fifth of the agent's idle RSS.
  {
    path: 'ssh2',
    importer: /[\\/]docker-modem[\\/]lib[\\/]/,
    contents: `module.exports = { Client: function () { throw new Error('${SSH_UNAVAILABLE}') } }`,
  },
  // zod's messages in 40-odd languages (~290 KiB); the agent speaks English only.
  {
    path: '../locales/index.js',
    importer: /[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/,
    contents: `export { default as en } from '../locales/en.js'`,
  },
]

const trim = {
  name: 'berth-agent-stubs',
  setup(b) {
    b.onResolve({ filter: /^(\.\/session|protobufjs|ssh2|\.\.\/locales\/index\.js)$/ }, (args) => {
      const index = stubs.findIndex((s) => s.path === args.path && s.importer.test(args.importer))
      if (index === -1) return undefined
      return {
        path: `${args.path} (stub)`,
        namespace: 'berth-stub',
        pluginData: { index, from: args.resolveDir },
      }
    })
    b.onLoad({ filter: /.*/, namespace: 'berth-stub' }, (args) => ({
      contents: stubs[args.pluginData.index].contents,
      loader: 'js',
      resolveDir: args.pluginData.from,
    }))
  },
}

await mkdir(dirname(outfile), { recursive: true })
const { metafile } = await build({
  entryPoints: [join(root, 'src', 'cli.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  plugins: [trim],
  banner: {
    js: [
      '#!/usr/bin/env node',
      // Bundled CommonJS (dockerode, docker-modem, …) calls require() for Node's own modules and reads __dirname.
      "import { createRequire as __berthCreateRequire } from 'node:module';",
      "import { fileURLToPath as __berthFileURLToPath } from 'node:url';",
      'const require = __berthCreateRequire(import.meta.url);',
      'const __filename = __berthFileURLToPath(import.meta.url);',
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    ].join('\n'),
  },
  logLevel: 'warning',
  metafile: true,
})

// Stand-ins and fixtures are for tests: one reached from the CLI is an import to fix, not to ship.
const fixtures = Object.keys(metafile.inputs).filter((input) => FIXTURE.test(input))
if (fixtures.length > 0)
  throw new Error(`the agent bundle would contain test fixtures: ${fixtures.join(', ')}`)

await chmod(outfile, 0o755)
const { size } = await stat(outfile)
console.log(`built ${outfile} (${(size / 1024).toFixed(0)} KiB)`)
