import { fileURLToPath } from 'node:url'
import { configDefaults, defineConfig } from 'vitest/config'

const root = fileURLToPath(new URL('..', import.meta.url))

export default defineConfig({
  test: {
    root,
    projects: [
      {
        test: {
          name: 'unit',
          root,
          sequence: { groupOrder: 0 },
          include: ['packages/*/src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          root,
          include: ['test/**/*.test.ts'],
          // Starts the API under workerd whatever the target: scripts/test.sh runs it in the workerd pass only.
          exclude:
            process.env.BERTH_TEST_TARGET === 'workerd'
              ? configDefaults.exclude
              : [...configDefaults.exclude, 'test/hibernation.test.ts'],
          // Each file starts its own API and agents; two at a time suits a 2-core machine.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
