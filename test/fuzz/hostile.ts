// Hostile arguments for the fuzz targets. fast-check generates recipes (plain data, so a failure
// prints readably and shrinks); build() turns a recipe into a fresh value for each call, since
// typed arrays get detached, states get disposed and params get stepped.
import fc from "fast-check";

export type TypedName =
  | "Float32Array" | "Uint16Array" | "Uint8Array" | "Float64Array" | "Int16Array" | "Uint32Array"
  | "BigInt64Array" | "DataView" | "ArrayBuffer";
export type Backing = "plain" | "offset" | "shared" | "detached" | "resizable";
export type LengthSpec = "numel" | "numel-1" | "numel+1" | number;
export type StateKind = "fixture" | "other" | "disposed" | "adamw" | "fakeProto" | "rawNative" | "plainObject";

export type Recipe =
  | { k: "undefined" }
  | { k: "null" }
  | { k: "boolean"; v: boolean }
  | { k: "number"; v: number }
  | { k: "bigint"; v: bigint }
  | { k: "string"; v: string }
  | { k: "symbol" }
  | { k: "function" }
  | { k: "object"; entries: [string, Recipe][] }
  | { k: "array"; items: Recipe[] }
  | { k: "typed"; type: TypedName; length: LengthSpec; backing: Backing }
  | { k: "tensor"; dtype: Recipe; data: Recipe }
  | { k: "state"; which: StateKind }
  // A device tensor record ({ ptr, numel, dtype, device }): without a GPU (and for CPU states
  // everywhere) it must be refused, whatever its fields hold.
  | { k: "deviceTensor"; ptr: Recipe; numel: Recipe; dtype: Recipe; device: Recipe }
  | { k: "throwingGetter" }
  | { k: "proxy" }
  // An array whose elements are getters: reading one detaches or shrinks a buffer built earlier
  // in the same call, then returns the element (the native layer must not hold stale pointers).
  | { k: "sabotage"; items: Recipe[]; victim: number; how: "detach" | "shrink" };

/** Numbers that break things: limits, non-integers, non-finite, ±0, powers of two. */
export const SPECIAL_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 2, 3, 0.5, 1.5, 1e-8, 1e-300, 0.999999, 1 - 2 ** -53, NaN, Infinity, -Infinity,
  1023, 1024, 1025, 4096, 65535, 65536, 65537, 2 ** 32 + 0.5, -(2 ** 31), -(2 ** 32), 2 ** 45, 2 ** 53 - 1, 2 ** 53,
  2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MAX_VALUE, Number.EPSILON,
];

// A valid numel in [1e7, 1e12] would allocate (and zero) gigabytes: legal, and out of scope for
// a fuzz run on a small machine (docs/reliability.md); every other number is fair.
const affordable = (x: number) => !(Number.isInteger(x) && x > 1e6 && x < 1e12);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...SPECIAL_NUMBERS),
  fc.integer({ min: -5, max: 5000 }),
  fc.double().filter(affordable),
);

const typedNames: TypedName[] = [
  "Float32Array", "Uint16Array", "Uint8Array", "Float64Array", "Int16Array", "Uint32Array", "BigInt64Array", "DataView", "ArrayBuffer",
];

export const lengthSpec: fc.Arbitrary<LengthSpec> = fc.oneof(
  fc.constantFrom<LengthSpec>("numel", "numel", "numel-1", "numel+1", 0, 1),
  fc.integer({ min: 0, max: 3000 }),
);
export const backing: fc.Arbitrary<Backing> = fc.constantFrom<Backing>("plain", "plain", "offset", "shared", "detached", "resizable");

export function typedRecipe(types: TypedName[] = typedNames): fc.Arbitrary<Recipe> {
  return fc.record({ k: fc.constant("typed" as const), type: fc.constantFrom(...types), length: lengthSpec, backing });
}

const stateKinds: StateKind[] = ["fixture", "other", "disposed", "adamw", "fakeProto", "rawNative", "plainObject"];

/** Any value at all, nested up to a few levels. */
export const hostile: fc.Arbitrary<Recipe> = fc.letrec<{ value: Recipe }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom<Recipe>({ k: "undefined" }, { k: "null" }, { k: "symbol" }, { k: "function" }, { k: "throwingGetter" }, { k: "proxy" }),
    fc.boolean().map((v): Recipe => ({ k: "boolean", v })),
    hostileNumber.map((v): Recipe => ({ k: "number", v })),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((v): Recipe => ({ k: "bigint", v })),
    fc.constantFrom("", "f32", "bf16", "f16", "cpu", "cuda", "auto", "skip", "error", "ignore", "10", "NaN", "__proto__", "x".repeat(100)).map(
      (v): Recipe => ({ k: "string", v }),
    ),
    typedRecipe(),
    typedRecipe(["Float32Array", "Uint16Array"]),
    fc.record({ k: fc.constant("tensor" as const), dtype: tie("value"), data: tie("value") }),
    fc.record({ k: fc.constant("tensor" as const), dtype: fc.constantFrom<Recipe>({ k: "string", v: "bf16" }, { k: "string", v: "f16" }, { k: "string", v: "f32" }), data: typedRecipe(["Float32Array", "Uint16Array"]) }),
    fc.constantFrom(...stateKinds).map((which): Recipe => ({ k: "state", which })),
    fc.record({
      k: fc.constant("deviceTensor" as const),
      ptr: fc.oneof(
        fc.constantFrom(0n, 1n, 0x7f0000000000n, 2n ** 64n - 1n, 2n ** 64n, -1n).map((v): Recipe => ({ k: "bigint", v })),
        tie("value"),
      ),
      numel: fc.oneof(fc.constantFrom<Recipe>({ k: "number", v: 1 }, { k: "number", v: 100 }), tie("value")),
      dtype: fc.oneof(fc.constantFrom<Recipe>({ k: "string", v: "f32" }, { k: "string", v: "bf16" }), tie("value")),
      device: fc.oneof(fc.constantFrom<Recipe>({ k: "string", v: "cuda" }, { k: "string", v: "cpu" }), tie("value")),
    }),
    fc.array(tie("value"), { maxLength: 4 }).map((items): Recipe => ({ k: "array", items })),
    fc.array(fc.tuple(fc.constantFrom("numel", "window", "density", "lr", "step", "data", "dtype", "errorCodes", "x", "0", "length"), tie("value")), { maxLength: 4 }).map(
      (entries): Recipe => ({ k: "object", entries }),
    ),
    fc.record({
      k: fc.constant("sabotage" as const),
      items: fc.array(tie("value"), { minLength: 1, maxLength: 3 }),
      victim: fc.nat(7),
      how: fc.constantFrom("detach" as const, "shrink" as const),
    }),
  ),
})).value;

/** A valid value most of the time, a hostile one otherwise. */
export function mostly<T>(valid: fc.Arbitrary<T>, weight = 3): fc.Arbitrary<{ valid: T } | { hostile: Recipe }> {
  return fc.oneof(
    { arbitrary: valid.map((v) => ({ valid: v })), weight },
    { arbitrary: hostile.map((h) => ({ hostile: h })), weight: 1 },
  );
}

/** What build() draws on: the fixture's objects, and every buffer built so far in this call. */
export interface BuildContext {
  numel: number;
  states: Record<StateKind, () => unknown>;
  /** Buffers a sabotage getter may detach or shrink. */
  buffers: ArrayBuffer[];
  gc?: () => void;
}

function lengthOf(spec: LengthSpec, numel: number): number {
  if (spec === "numel") return numel;
  if (spec === "numel-1") return Math.max(0, numel - 1);
  if (spec === "numel+1") return numel + 1;
  return spec;
}

type TypedCtor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView;
const CTORS: Record<Exclude<TypedName, "DataView" | "ArrayBuffer">, TypedCtor & { BYTES_PER_ELEMENT: number }> = {
  Float32Array, Uint16Array, Uint8Array, Float64Array, Int16Array, Uint32Array, BigInt64Array,
};

export function detach(buffer: ArrayBuffer): void {
  structuredClone(buffer, { transfer: [buffer] });
}

function buildTyped(r: Extract<Recipe, { k: "typed" }>, ctx: BuildContext): unknown {
  const length = lengthOf(r.length, ctx.numel);
  const elementBytes = r.type === "DataView" || r.type === "ArrayBuffer" ? 1 : CTORS[r.type].BYTES_PER_ELEMENT;
  const offset = r.backing === "offset" ? 1 : 0;
  const bytes = (length + offset) * elementBytes;
  let buffer: ArrayBufferLike;
  if (r.backing === "shared") buffer = new SharedArrayBuffer(bytes);
  else if (r.backing === "resizable")
    buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(bytes, { maxByteLength: bytes + 64 });
  else buffer = new ArrayBuffer(bytes);
  if (buffer instanceof ArrayBuffer) ctx.buffers.push(buffer);
  let view: unknown;
  if (r.type === "ArrayBuffer") view = buffer;
  else if (r.type === "DataView") view = new DataView(buffer, offset, length);
  else {
    const v = new CTORS[r.type](buffer, offset * elementBytes, length);
    if (!(v instanceof BigInt64Array)) for (let i = 0; i < length; i++) (v as Float32Array)[i] = Math.sin(i + 1) * 0.5;
    view = v;
  }
  if (r.backing === "detached" && buffer instanceof ArrayBuffer) detach(buffer);
  return view;
}

export function build(r: Recipe, ctx: BuildContext): unknown {
  switch (r.k) {
    case "undefined": return undefined;
    case "null": return null;
    case "boolean": case "number": case "bigint": case "string": return r.v;
    case "symbol": return Symbol("hostile");
    case "function": return () => 42;
    case "object": {
      const o: Record<string, unknown> = {};
      for (const [key, value] of r.entries) o[key] = build(value, ctx);
      return o;
    }
    case "array": return r.items.map((item) => build(item, ctx));
    case "typed": return buildTyped(r, ctx);
    case "tensor": return { data: build(r.data, ctx), dtype: build(r.dtype, ctx) };
    case "deviceTensor":
      return { ptr: build(r.ptr, ctx), numel: build(r.numel, ctx), dtype: build(r.dtype, ctx), device: build(r.device, ctx) };
    case "state": return ctx.states[r.which]();
    case "throwingGetter":
      return Object.defineProperty({}, "numel", { enumerable: true, get() { throw new Error("hostile getter"); } });
    case "proxy":
      return new Proxy({}, {
        get() { throw new Error("hostile proxy"); },
        has() { throw new Error("hostile proxy"); },
        ownKeys() { throw new Error("hostile proxy"); },
        getOwnPropertyDescriptor() { throw new Error("hostile proxy"); },
      });
    case "sabotage":
      return sabotageArray(r.items.map((item) => build(item, ctx)), r.victim, r.how, ctx);
  }
}

/**
 * An array of `items` read through getters: each read first detaches (or, if it is resizable and
 * `how` is "shrink", shrinks to 0) one of the buffers built so far in this call, and collects
 * garbage so that a detached buffer's memory is freed at once.
 */
export function sabotageArray(items: unknown[], victim: number, how: "detach" | "shrink", ctx: BuildContext): unknown[] {
  const array: unknown[] = new Array(items.length);
  items.forEach((item, i) =>
    Object.defineProperty(array, i, {
      enumerable: true,
      get() {
        const buffer = ctx.buffers[victim % Math.max(1, ctx.buffers.length)];
        if (buffer && !isDetached(buffer)) {
          const resizable = (buffer as ArrayBuffer & { resizable?: boolean }).resizable;
          if (how === "shrink" && resizable) (buffer as ArrayBuffer & { resize(n: number): void }).resize(0);
          else detach(buffer);
          ctx.gc?.();
        }
        return item;
      },
    }),
  );
  return array;
}

export function isDetached(buffer: ArrayBuffer): boolean {
  // Node 20 has no ArrayBuffer.prototype.detached; a detached buffer reports byteLength 0 and
  // cannot be sliced.
  if (buffer.byteLength !== 0) return false;
  try {
    buffer.slice(0);
    return false;
  } catch {
    return true;
  }
}

export function buildChoice<T>(choice: { valid: T } | { hostile: Recipe }, ctx: BuildContext): unknown {
  return "valid" in choice ? choice.valid : build(choice.hostile, ctx);
}
