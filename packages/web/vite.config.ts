import { defineConfig } from 'vite'

// The dashboard's build: one page, its assets hashed under assets/ (served as immutable by both
// runtimes), the route-level pages split into chunks of their own.
export default defineConfig({
  root: import.meta.dirname,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  // The manifest (dist/.vite, never served) tells the size check which files the first page loads.
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0, manifest: true },
  server: {
    // `npx vite packages/web` against an API started with `npm start`.
    proxy: { '/api': { target: process.env.BERTH_API_URL ?? 'http://127.0.0.1:8080', ws: true } },
  },
})
