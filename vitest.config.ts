import { defineConfig } from 'vitest/config';

// Tests import tome by name; the `source` export condition points those imports at the TypeScript sources, so the
// suite never runs against a stale dist/.
const conditions = ['source'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
