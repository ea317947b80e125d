/**
 * A progress bar for long start-ups, drawn in place on a terminal and as
 * plain milestone lines elsewhere (CI logs, pipes).
 *
 * @module
 */

/** Where the bar is drawn: `process.stderr` or anything shaped like it. */
export interface ProgressSink {
  write(text: string): unknown
  readonly isTTY?: boolean
}

/** Settings of a {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** Steps to completion, at least 1. */
  readonly total: number
  /** Shown after the counts. */
  readonly label: string
  readonly sink: ProgressSink
  /** Characters between the brackets; default 30. */
  readonly width?: number
}

/**
 * The bar as text: `[#######-------]  7/15 label`.
 *
 * @example
 * ```ts
 * renderBar(5, 10, 10, "nodes") // "[#####-----]  5/10 nodes"
 * ```
 */
export const renderBar = (done: number, total: number, width: number, label: string): string => {
  const clamped = Math.min(Math.max(done, 0), total)
  const filled = total === 0 ? width : Math.round((clamped / total) * width)
  const counts = `${String(clamped).padStart(String(total).length)}/${total}`
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${counts} ${label}`
}

/**
 * Counts steps toward a total. On a terminal the bar is redrawn in place
 * on every step; otherwise a line is written at each quarter, so logs stay
 * short.
 *
 * @example
 * ```ts
 * const bar = new ProgressBar({ total: 25, label: "nodes started", sink: process.stderr })
 * for (let i = 0; i < 25; i++) bar.tick()
 * bar.finish()
 * ```
 */
export class ProgressBar {
  private done = 0
  private lastQuarter = 0
  private finished = false
  private readonly width: number

  constructor(private readonly options: ProgressBarOptions) {
    if (!Number.isInteger(options.total) || options.total < 1) {
      throw new RangeError(`a progress bar needs a positive integer total, got ${options.total}`)
    }
    this.width = options.width ?? 30
    if (options.sink.isTTY) this.draw()
  }

  /** Steps completed so far. */
  get completed(): number {
    return this.done
  }

  /** Marks `steps` more steps done. */
  tick(steps = 1): void {
    if (this.finished) return
    this.done = Math.min(this.done + steps, this.options.total)
    if (this.options.sink.isTTY) {
      this.draw()
      return
    }
    const quarter = Math.floor((this.done / this.options.total) * 4)
    if (quarter > this.lastQuarter) {
      this.lastQuarter = quarter
      this.options.sink.write(`${this.text()}\n`)
    }
  }

  /** Ends the bar's line; later ticks are ignored. */
  finish(): void {
    if (this.finished) return
    this.finished = true
    if (this.options.sink.isTTY) this.options.sink.write("\n")
  }

  private text(): string {
    return renderBar(this.done, this.options.total, this.width, this.options.label)
  }

  private draw(): void {
    // \r returns to the start of the line and ESC[K clears what a longer previous draw left
    this.options.sink.write(`\r${this.text()}\u001b[K`)
  }
}
