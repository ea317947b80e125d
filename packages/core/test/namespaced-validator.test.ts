import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { InvalidRecordError } from "../src/errors.js"
import {
  NamespacedValidator,
  namespaceOf,
  selectRecord,
  type Validator,
  validateRecord
} from "../src/record/validator.js"

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

/** A validator that records its calls, accepts everything and prefers the longest value. */
const recording = () => {
  const calls: Array<{ readonly op: "validate" | "select"; readonly key: string }> = []
  const validator: Validator = {
    validate: (key) => {
      calls.push({ op: "validate", key: text(key) })
    },
    select: (key, values) => {
      calls.push({ op: "select", key: text(key) })
      let best = 0
      for (let i = 1; i < values.length; i++) if (values[i].byteLength > values[best].byteLength) best = i
      return best
    }
  }
  return { calls, validator }
}

const failing = (error: unknown): Validator => ({
  validate: () => {
    throw error
  },
  select: () => {
    throw error
  }
})

const rejecting = (error: unknown): Validator => ({
  validate: () => Promise.reject(error),
  select: () => Promise.reject(error)
})

const answering = (index: number | Promise<number>): Validator => ({
  validate: () => undefined,
  select: () => index
})

const two = [utf8("a"), utf8("bb")]

describe("namespaceOf", () => {
  it("reads the name between the first two slashes", () => {
    expect(namespaceOf(utf8("/pk/abc"))).toBe("pk")
    expect(namespaceOf(utf8("/ipns/\u0000\u0001binary"))).toBe("ipns")
    expect(namespaceOf(utf8("/myapp/a/b/c"))).toBe("myapp")
    expect(namespaceOf(utf8("/a/"))).toBe("a")
  })

  it("is undefined for keys not shaped /namespace/...", () => {
    for (const key of ["", "/", "//", "//x", "/pk", "pk/abc", "pk", "/ab"]) {
      expect(namespaceOf(utf8(key))).toBeUndefined()
    }
    expect(namespaceOf(Uint8Array.of(0x12, 0x20, 0x2f, 0x61, 0x2f))).toBeUndefined()
  })

  it.prop(
    "recovers any slash-free namespace from /ns/rest",
    [fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).filter((s) => !s.includes("/")), fc.string()],
    ([ns, rest]) => {
      expect(namespaceOf(utf8(`/${ns}/${rest}`))).toBe(ns)
    }
  )
})

describe("NamespacedValidator", () => {
  it.effect("routes validate and select to the validator of the key's namespace", () =>
    Effect.gen(function* () {
      const a = recording()
      const b = recording()
      const validator = new NamespacedValidator({ a: a.validator })
      validator.addValidator("b", b.validator)

      yield* validateRecord(validator, utf8("/a/one"), utf8("v"))
      yield* validateRecord(validator, utf8("/b/two"), utf8("v"))
      const best = yield* selectRecord(validator, utf8("/b/two"), [utf8("x"), utf8("xyz"), utf8("xy")])

      expect(best).toBe(1)
      expect(a.calls).toEqual([{ op: "validate", key: "/a/one" }])
      expect(b.calls).toEqual([
        { op: "validate", key: "/b/two" },
        { op: "select", key: "/b/two" }
      ])
    })
  )

  it("lists, gets, replaces and removes namespaces", () => {
    const first = recording().validator
    const second = recording().validator
    const validator = new NamespacedValidator({ pk: first })
    expect(validator.addValidator("ipns", first)).toBe(validator)
    expect(validator.namespaces().sort()).toEqual(["ipns", "pk"])
    expect(validator.getValidator("pk")).toBe(first)

    validator.addValidator("pk", second)
    expect(validator.getValidator("pk")).toBe(second)
    expect(validator.namespaces()).toHaveLength(2)

    expect(validator.removeValidator("pk")).toBe(true)
    expect(validator.removeValidator("pk")).toBe(false)
    expect(validator.getValidator("pk")).toBeUndefined()
    expect(validator.namespaces()).toEqual(["ipns"])
  })

  it("refuses namespaces that are empty or contain a slash", () => {
    const validator = new NamespacedValidator()
    expect(() => validator.addValidator("", recording().validator)).toThrow(TypeError)
    expect(() => validator.addValidator("a/b", recording().validator)).toThrow(TypeError)
    expect(() => new NamespacedValidator({ "/pk": recording().validator })).toThrow(TypeError)
    expect(validator.namespaces()).toEqual([])
  })

  it.effect("refuses keys of an unknown namespace with InvalidRecordError", () =>
    Effect.gen(function* () {
      const validator = new NamespacedValidator({ pk: recording().validator })
      const key = utf8("/other/x")
      const onValidate = yield* Effect.flip(validateRecord(validator, key, utf8("v")))
      expect(onValidate).toBeInstanceOf(InvalidRecordError)
      expect(onValidate.reason).toBe("no validator for namespace 'other'")
      expect(onValidate.key).toBe(key)
      const onSelect = yield* Effect.flip(selectRecord(validator, key, two))
      expect(onSelect.reason).toBe("no validator for namespace 'other'")
    })
  )

  it.effect("refuses keys without a namespace", () =>
    Effect.gen(function* () {
      const validator = new NamespacedValidator({ pk: recording().validator })
      const error = yield* Effect.flip(validateRecord(validator, utf8("no-namespace"), utf8("v")))
      expect(error).toBeInstanceOf(InvalidRecordError)
      expect(error.reason).toContain("/namespace/")
    })
  )

  it.effect("refuses a namespace after its validator is removed", () =>
    Effect.gen(function* () {
      const validator = new NamespacedValidator({ pk: recording().validator })
      yield* validateRecord(validator, utf8("/pk/x"), utf8("v"))
      validator.removeValidator("pk")
      const error = yield* Effect.flip(validateRecord(validator, utf8("/pk/x"), utf8("v")))
      expect(error.reason).toBe("no validator for namespace 'pk'")
    })
  )
})

describe("validateRecord", () => {
  it.effect("succeeds when the validator returns or resolves", () =>
    Effect.gen(function* () {
      yield* validateRecord(answering(0), utf8("/v/k"), utf8("v"))
      yield* validateRecord({ validate: async () => undefined, select: () => 0 }, utf8("/v/k"), utf8("v"))
    })
  )

  it.effect("maps a thrown Error to InvalidRecordError, keeping its message and cause", () =>
    Effect.gen(function* () {
      const cause = new Error("signature does not match")
      const key = utf8("/v/k")
      const error = yield* Effect.flip(validateRecord(failing(cause), key, utf8("v")))
      expect(error).toBeInstanceOf(InvalidRecordError)
      expect(error.key).toBe(key)
      expect(error.reason).toBe("signature does not match")
      expect(error.cause).toBe(cause)
    })
  )

  it.effect("maps async rejections and non-Error throws too", () =>
    Effect.gen(function* () {
      const rejected = yield* Effect.flip(validateRecord(rejecting(new Error("expired")), utf8("/v/k"), utf8("v")))
      expect(rejected.reason).toBe("expired")
      const thrownString = yield* Effect.flip(validateRecord(failing("bad value"), utf8("/v/k"), utf8("v")))
      expect(thrownString.reason).toBe("bad value")
      expect(thrownString.cause).toBe("bad value")
    })
  )

  it.effect("passes an InvalidRecordError thrown by the validator through unchanged", () =>
    Effect.gen(function* () {
      const original = new InvalidRecordError({ key: utf8("/v/k"), reason: "too big" })
      const error = yield* Effect.flip(validateRecord(failing(original), utf8("/v/k"), utf8("v")))
      expect(error).toBe(original)
    })
  )
})

describe("selectRecord", () => {
  it.effect("returns the selector's index, synchronous or asynchronous", () =>
    Effect.gen(function* () {
      expect(yield* selectRecord(answering(1), utf8("/v/k"), two)).toBe(1)
      expect(yield* selectRecord(answering(Promise.resolve(0)), utf8("/v/k"), two)).toBe(0)
    })
  )

  it.effect("answers 0 for a single value without asking the validator", () =>
    Effect.gen(function* () {
      expect(yield* selectRecord(failing(new Error("must not be called")), utf8("/v/k"), [utf8("only")])).toBe(0)
    })
  )

  it.effect("fails for an empty list", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(selectRecord(answering(0), utf8("/v/k"), []))
      expect(error).toBeInstanceOf(InvalidRecordError)
      expect(error.reason).toBe("no values to select from")
    })
  )

  it.effect("rejects indices outside the list or not integers", () =>
    Effect.gen(function* () {
      for (const index of [-1, 2, 3, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        const error = yield* Effect.flip(selectRecord(answering(index), utf8("/v/k"), two))
        expect(error).toBeInstanceOf(InvalidRecordError)
        expect(error.reason).toBe(`selector returned ${index} for 2 values`)
      }
      const late = yield* Effect.flip(selectRecord(answering(Promise.resolve(7)), utf8("/v/k"), two))
      expect(late.reason).toBe("selector returned 7 for 2 values")
    })
  )

  it.effect("maps thrown errors and rejections to InvalidRecordError", () =>
    Effect.gen(function* () {
      const thrown = yield* Effect.flip(selectRecord(failing(new Error("cannot compare")), utf8("/v/k"), two))
      expect(thrown).toBeInstanceOf(InvalidRecordError)
      expect(thrown.reason).toBe("cannot compare")
      const rejected = yield* Effect.flip(selectRecord(rejecting(new Error("later")), utf8("/v/k"), two))
      expect(rejected.reason).toBe("later")
    })
  )

  it.effect.prop(
    "accepts exactly the integer indices inside the list",
    [fc.integer({ min: 2, max: 10 }), fc.integer({ min: -5, max: 15 })],
    ([count, index]) =>
      Effect.gen(function* () {
        const values = Array.from({ length: count }, (_, i) => Uint8Array.of(i))
        const result = yield* Effect.either(selectRecord(answering(index), utf8("/v/k"), values))
        expect(result._tag === "Right").toBe(index >= 0 && index < count)
      })
  )
})
