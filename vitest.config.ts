import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Suites share two cores with code-server and Chromium: one file at a time.
    fileParallelism: false,
    projects: [
      // The unit and engine files share one process each (no isolation): a fresh process per file
      // cost about 0.6 s a file here (45 s of a CI run). Nothing there mocks modules or globals.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', isolate: false } },
      // Each e2e file keeps its own process: code-server sessions and Chromium profiles stay apart.
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 300_000, hookTimeout: 180_000 } },
      { test: { name: 'engine', include: ['test/engine/**/*.test.ts'], environment: 'node', testTimeout: 180_000, hookTimeout: 180_000, isolate: false } },
    ],
  },
});
