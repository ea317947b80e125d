/**
 * The soak suite: the long versions of the reliability experiments (fuzzing
 * for minutes, churn at 1000 simulated nodes and 50 loopback hosts, many
 * crash rounds, a minutes-long load). Run with `pnpm test:soak`; figures go
 * to stdout and, with RELIABILITY_REPORT=<file>, to that file as JSON lines.
 */
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  resolve: {
    conditions: ["@effect-kad/source"]
  },
  ssr: {
    resolve: {
      conditions: ["@effect-kad/source"]
    }
  },
  test: {
    include: ["test/soak/**/*.soak.ts"],
    testTimeout: 30 * 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // one experiment at a time: load and churn figures mean little on a machine shared with another
    fileParallelism: false,
    reporters: ["default", "./test/support/summary-reporter.ts"]
  }
})
