/**
 * Grouped bar charts as standalone SVG, written from string templates: the
 * results need a picture, not a charting library.
 *
 * @module
 */
import type { BarChart } from "./suite.js"
import { formatNumber } from "./table.js"

const WIDTH = 860
const CHART_HEIGHT = 320
const TITLE_HEIGHT = 40
const LEGEND_HEIGHT = 28
const AXIS_LABEL_HEIGHT = 36
const LEFT = 84
const RIGHT = 16
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]

/** Escapes text for SVG content and attribute values. */
export const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** Height one chart takes in the stacked SVG. */
const blockHeight = TITLE_HEIGHT + LEGEND_HEIGHT + CHART_HEIGHT + AXIS_LABEL_HEIGHT

interface Scale {
  readonly y: (value: number) => number
  readonly ticks: ReadonlyArray<number>
}

/** Maps values to the plot's vertical pixels (0 at the bottom edge `bottom`, `height` tall). */
const makeScale = (values: ReadonlyArray<number>, log: boolean, bottom: number, height: number): Scale => {
  const positive = values.filter((v) => v > 0)
  const max = Math.max(...values, 0)
  if (log && positive.length > 0) {
    // nudged down so a value that is an exact power of ten still gets a visible bar
    const lo = Math.floor(Math.log10(Math.min(...positive)) - 1e-9)
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)))
    const ticks: Array<number> = []
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e)
    const y = (value: number) => (value <= 0 ? bottom : bottom - ((Math.log10(value) - lo) / (hi - lo)) * height)
    return { y, ticks }
  }
  const top = niceCeiling(max)
  const ticks = Array.from({ length: 6 }, (_, i) => (top * i) / 5)
  return { y: (value: number) => bottom - (Math.max(0, value) / top) * height, ticks }
}

/** The smallest 1, 2 or 5 × 10^n at or above `value`. */
const niceCeiling = (value: number): number => {
  if (value <= 0) return 1
  const magnitude = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude
  return 10 * magnitude
}

/** One chart's SVG elements, drawn with its top edge at `top`. */
const chartElements = (chart: BarChart, top: number): string => {
  const series = [...new Set(chart.groups.flatMap((g) => g.bars.map((b) => b.series)))]
  const colour = (name: string) => PALETTE[series.indexOf(name) % PALETTE.length]
  const plotTop = top + TITLE_HEIGHT + LEGEND_HEIGHT
  const bottom = plotTop + CHART_HEIGHT
  const plotWidth = WIDTH - LEFT - RIGHT
  const scale = makeScale(
    chart.groups.flatMap((g) => g.bars.map((b) => b.value)),
    chart.logScale === true,
    bottom,
    CHART_HEIGHT - 14
  )
  const parts: Array<string> = []
  parts.push(
    `<text x="${WIDTH / 2}" y="${top + 24}" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`
  )
  // legend
  let lx = LEFT
  for (const name of series) {
    parts.push(`<rect x="${lx}" y="${top + TITLE_HEIGHT + 4}" width="12" height="12" fill="${colour(name)}"/>`)
    parts.push(`<text x="${lx + 16}" y="${top + TITLE_HEIGHT + 14}" font-size="12">${escapeXml(name)}</text>`)
    lx += 28 + name.length * 7
  }
  // grid and value axis
  for (const tick of scale.ticks) {
    const y = scale.y(tick).toFixed(1)
    parts.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" stroke="#ddd"/>`)
    parts.push(
      `<text x="${LEFT - 6}" y="${y}" dy="4" text-anchor="end" font-size="11" fill="#555">${escapeXml(formatNumber(tick))}</text>`
    )
  }
  parts.push(`<line x1="${LEFT}" x2="${LEFT}" y1="${plotTop}" y2="${bottom}" stroke="#333"/>`)
  parts.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`)
  parts.push(
    `<text transform="translate(16 ${(plotTop + bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">${escapeXml(
      chart.logScale === true ? `${chart.unit} (log scale)` : chart.unit
    )}</text>`
  )
  // bars
  const groupWidth = plotWidth / Math.max(1, chart.groups.length)
  const barWidth = Math.min(48, (groupWidth * 0.8) / Math.max(1, series.length))
  chart.groups.forEach((group, g) => {
    const groupLeft = LEFT + g * groupWidth + (groupWidth - barWidth * series.length) / 2
    for (const bar of group.bars) {
      const x = groupLeft + series.indexOf(bar.series) * barWidth
      const y = scale.y(bar.value)
      const h = Math.max(0, bottom - y)
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${colour(bar.series)}"><title>${escapeXml(`${bar.series} @ ${group.label}: ${formatNumber(bar.value)} ${chart.unit}`)}</title></rect>`
      )
      parts.push(
        `<text x="${(x + barWidth / 2 - 1).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${escapeXml(formatNumber(bar.value))}</text>`
      )
    }
    parts.push(
      `<text x="${(LEFT + g * groupWidth + groupWidth / 2).toFixed(1)}" y="${bottom + 18}" text-anchor="middle" font-size="12">${escapeXml(group.label)}</text>`
    )
  })
  return parts.join("\n")
}

/**
 * The charts stacked in one SVG document, under a heading.
 *
 * @example
 * ```ts
 * writeFileSync("bench/results/routing-table.svg", chartsSvg("routing-table", result.charts))
 * ```
 */
export const chartsSvg = (heading: string, charts: ReadonlyArray<BarChart>): string => {
  const height = 36 + charts.length * blockHeight
  const body = charts.map((chart, i) => chartElements(chart, 36 + i * blockHeight)).join("\n")
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="24" font-size="13" fill="#777">${escapeXml(heading)}</text>`,
    body,
    "</svg>",
    ""
  ].join("\n")
}
