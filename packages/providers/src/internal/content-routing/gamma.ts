/**
 * The regularized lower incomplete gamma function and its inverse, which
 * optimistic provide uses to turn a network size estimate into distance
 * thresholds: in a network of N peers spread uniformly over the keyspace,
 * the normalised distance of the i-th closest peer to a key follows (up to
 * a factor 1 / N) a Gamma(i, 1) distribution.
 *
 * Plain numeric code: it runs a few times per provide, never per message.
 *
 * @internal
 * @module
 */

const LANCZOS_G = 7
const LANCZOS_COEFFICIENTS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7
]

/** ln Γ(a) for a > 0 (Lanczos approximation, about 15 significant digits). */
export const logGamma = (a: number): number => {
  if (a < 0.5) {
    // reflection keeps the approximation in its accurate range
    return Math.log(Math.PI / Math.sin(Math.PI * a)) - logGamma(1 - a)
  }
  const x = a - 1
  let sum = LANCZOS_COEFFICIENTS[0]
  for (let i = 1; i < LANCZOS_COEFFICIENTS.length; i++) sum += LANCZOS_COEFFICIENTS[i] / (x + i)
  const t = x + LANCZOS_G + 0.5
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum)
}

const EPSILON = 1e-15
const TINY = 1e-300
const MAX_ITERATIONS = 1000

/** P(a, x) by its power series; converges fast for x < a + 1. */
const lowerSeries = (a: number, x: number): number => {
  let term = 1 / a
  let sum = term
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n)
    sum += term
    if (Math.abs(term) < Math.abs(sum) * EPSILON) break
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a))
}

/** Q(a, x) = 1 - P(a, x) by its continued fraction (modified Lentz); converges fast for x ≥ a + 1. */
const upperFraction = (a: number, x: number): number => {
  let b = x + 1 - a
  let c = 1 / TINY
  let d = 1 / b
  let h = d
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a)
    b += 2
    d = an * d + b
    if (Math.abs(d) < TINY) d = TINY
    c = b + an / c
    if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    const delta = d * c
    h *= delta
    if (Math.abs(delta - 1) < EPSILON) break
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h
}

/**
 * The regularized lower incomplete gamma function P(a, x): the probability
 * that a Gamma(a, 1) variable is at most `x`. `a` > 0, `x` ≥ 0.
 */
export const gammaIncReg = (a: number, x: number): number => {
  if (!(a > 0) || !(x >= 0)) return Number.NaN
  if (x === 0) return 0
  if (x === Number.POSITIVE_INFINITY) return 1
  return x < a + 1 ? lowerSeries(a, x) : 1 - upperFraction(a, x)
}

/**
 * The inverse of {@link gammaIncReg} in `x`: the `x` with P(a, x) = `p`,
 * for `a` > 0 and `p` in [0, 1). Bisection, since P is increasing in `x`
 * and this runs rarely; 200 halvings reach the limit of double precision.
 */
export const gammaIncRegInv = (a: number, p: number): number => {
  if (!(a > 0) || !(p >= 0) || !(p < 1)) return Number.NaN
  if (p === 0) return 0
  let lo = 0
  let hi = Math.max(1, a)
  while (gammaIncReg(a, hi) < p) {
    lo = hi
    hi *= 2
  }
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2
    if (mid === lo || mid === hi) break
    if (gammaIncReg(a, mid) < p) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}
