import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Suites share two cores with code-server and Chromium: one file at a time.
    fileParallelism: false,
    // Every file runs in one process (vitest 3.2 applies this to all projects alike): a fresh
    // process per file cost 0.6 s a unit or engine file and about 3 s an e2e file here (84 s of a
    // CI run). Nothing in the suites mocks modules or patches globals; e2e sessions are processes
    // of their own (code-server, Chromium), started and stopped by each file's hooks.
    isolate: false,
    projects: [
      // One project after another (groupOrder): files interleaved across projects each started a process again.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', sequence: { groupOrder: 0 } } },
      { test: { name: 'engine', include: ['test/engine/**/*.test.ts'], environment: 'node', testTimeout: 180_000, hookTimeout: 180_000, sequence: { groupOrder: 1 } } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 300_000, hookTimeout: 180_000, sequence: { groupOrder: 2 } } },
    ],
  },
});
