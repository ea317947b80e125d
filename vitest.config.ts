import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    conditions: ["@effect-kad/source"]
  },
  ssr: {
    resolve: {
      conditions: ["@effect-kad/source"]
    }
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // vitest's default on 2 cores is one worker; most files wait on sockets, child processes and
    // timers, so two at a time keep both cores busy
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ["default", "./test/support/summary-reporter.ts"]
  }
})
