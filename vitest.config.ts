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
          // dig, dnsmasq, dnsperf, redis-server, redis-cli (installed when missing, as root).
          globalSetup: ['test/setup/packages.ts'],
          // Deadlines against hangs only: a verdict never depends on how busy the machine is.
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Docker, server images and their variables (brought up when missing): `npm test` alone
          // runs these on a fresh machine.
          globalSetup: ['test/setup/integration.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: true,
        },
      },
    ],
  },
});
