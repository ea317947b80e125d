/**
 * How long a lookup waits for one peer before it stops counting on it.
 *
 * The public network is full of peers that accept a connection and never
 * answer. A lookup that waits for each of them until the request timeout
 * stalls; one that gives up too early drops honest peers. The deadline
 * therefore follows the response times this node observes: a high
 * percentile of recent answers, times a margin, between a floor and a
 * ceiling. A peer past its deadline is not cancelled: it stops holding a
 * concurrency slot and stops blocking termination, and its answer still
 * counts if it comes while the lookup runs.
 *
 * Before that, a query slower than most answers (twice the median) becomes
 * a suspect: the lookup asks the next candidate beside it while still
 * counting on it. Without this, each silent peer among the closest brings
 * the next candidate into reach only at its deadline, and with 30% silent
 * peers a lookup paid its deadline two or three times in a row.
 *
 * @module
 */

/** Settings of the per-query deadlines (`ResponseTimes`, which derives them from recent answers). */
export interface QueryDeadlineConfig {
  /** Shortest response deadline, whatever the samples say. */
  readonly floorMillis: number
  /** Longest response deadline. */
  readonly ceilingMillis: number
  /** Time allowed to open the stream (dial and protocol negotiation) before the request counts as overdue. */
  readonly dialMillis: number
  /** Percentile of recent response times the deadline starts from (0..1). */
  readonly percentile?: number
  /** Margin applied to that percentile. */
  readonly multiplier?: number
  /** Samples kept (a ring). */
  readonly window?: number
  /** Deadline used until `minSamples` answers were seen. */
  readonly initialMillis?: number
  /** Samples needed before the percentile is trusted. */
  readonly minSamples?: number
  /** Margin on the median response time after which a query is a suspect (see the module comment). */
  readonly suspectMultiplier?: number
}

/**
 * The defaults: p90 × 1.5 of the last 64 answers (two or three lookups'
 * worth, so the deadline follows a network that changes), between 500 ms
 * and 5 s (1 s until 8 answers were seen); 5 s to open a stream.
 */
export const defaultQueryDeadline: QueryDeadlineConfig = {
  floorMillis: 500,
  ceilingMillis: 5_000,
  dialMillis: 5_000
}

/** The deadlines one query runs under: to open its stream, then to be answered. */
export interface QueryDeadline {
  readonly dialMillis: number
  /** Read when the request has been sent, so it reflects the latest samples. */
  readonly responseMillis: () => number
  /**
   * Read with `responseMillis`: after this long the lookup asks another
   * candidate beside this one while still waiting for it. Never later than
   * the response deadline; absent, only the deadline applies.
   */
  readonly suspectMillis?: () => number
}

/**
 * Recent response times of one node's requests and the deadline derived
 * from them. Plain TypeScript: it sits on the hot path of every query.
 *
 * @example
 * ```ts
 * const times = new ResponseTimes(defaultQueryDeadline)
 * times.record(42)
 * times.deadlineMillis() // 500 (the floor) until answers are slower
 * times.suspectMillis() // 250: half the deadline until 8 answers were seen
 * ```
 */
export class ResponseTimes {
  private readonly samples: Float64Array
  private count = 0
  private next = 0
  private cached: { readonly deadline: number; readonly suspect: number } | undefined
  private readonly percentile: number
  private readonly multiplier: number
  private readonly initialMillis: number
  private readonly minSamples: number
  private readonly suspectMultiplier: number

  constructor(readonly config: QueryDeadlineConfig) {
    this.samples = new Float64Array(Math.max(8, config.window ?? 64))
    this.percentile = Math.min(1, Math.max(0, config.percentile ?? 0.9))
    this.multiplier = Math.max(1, config.multiplier ?? 1.5)
    this.initialMillis = config.initialMillis ?? Math.min(config.ceilingMillis, Math.max(config.floorMillis, 1_000))
    this.minSamples = Math.max(1, config.minSamples ?? 8)
    this.suspectMultiplier = Math.max(1, config.suspectMultiplier ?? 2)
  }

  /** Adds the time between sending a request and reading its answer. */
  record(millis: number): void {
    if (!(millis >= 0) || !Number.isFinite(millis)) return
    this.samples[this.next] = millis
    this.next = (this.next + 1) % this.samples.length
    if (this.count < this.samples.length) this.count++
    this.cached = undefined
  }

  /** How long to wait for an answer once the request is sent. */
  deadlineMillis(): number {
    return this.thresholds().deadline
  }

  /**
   * How long a query may take before the lookup asks another candidate
   * beside it: the median answer times `suspectMultiplier`, at least a fifth
   * of the floor and at most the deadline (half of it until enough answers
   * were seen).
   */
  suspectMillis(): number {
    return this.thresholds().suspect
  }

  /** Both thresholds, kept until the next answer is recorded. */
  private thresholds(): { readonly deadline: number; readonly suspect: number } {
    if (this.cached === undefined) this.cached = this.derive()
    return this.cached
  }

  /** Both thresholds from one sort of the samples. */
  private derive(): { readonly deadline: number; readonly suspect: number } {
    const { floorMillis, ceilingMillis } = this.config
    let deadline = this.initialMillis
    let suspect: number | undefined
    if (this.count >= this.minSamples) {
      const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b)
      const at = Math.min(sorted.length - 1, Math.ceil(this.percentile * sorted.length) - 1)
      deadline = sorted[Math.max(0, at)] * this.multiplier
      suspect = sorted[Math.floor((sorted.length - 1) / 2)] * this.suspectMultiplier
    }
    deadline = Math.round(Math.min(ceilingMillis, Math.max(floorMillis, deadline)))
    suspect ??= deadline / 2
    return { deadline, suspect: Math.round(Math.min(deadline, Math.max(floorMillis / 5, suspect))) }
  }

  /** The deadlines of the next query. */
  deadline(): QueryDeadline {
    return {
      dialMillis: this.config.dialMillis,
      responseMillis: () => this.deadlineMillis(),
      suspectMillis: () => this.suspectMillis()
    }
  }
}
