import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration files mostly wait on servers: run several at once even on 2 cores.
    maxWorkers: 4,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'node_modules/**'],
          // Deadlines against hangs only: a verdict never depends on how busy the machine is.
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: true,
        },
      },
    ],
  },
});
