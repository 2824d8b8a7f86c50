// Argument checks with messages that name the argument, what was expected and what was
// received. The native layer checks again for callers that bypass this facade.

/** A short description of a received value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "number") return `${Object.is(value, -0) ? "-0" : String(value)} of type number`;
  if (typeof value === "string") return `${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)} of type string`;
  if (typeof value === "bigint") return `${value}n of type bigint`;
  if (typeof value === "boolean" || typeof value === "symbol") return `${String(value)} of type ${typeof value}`;
  if (typeof value === "function") return "a function";
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    return "length" in value ? `${name} of length ${(value as unknown as { length: number }).length}` : name;
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  try {
    return `an object${value.constructor && value.constructor !== Object ? ` (${value.constructor.name})` : ""}`;
  } catch {
    return "an object"; // a Proxy or getter that throws
  }
}

/** An error with a stable `code` for programs to test (the native layer sets the same codes). */
export type CodedError<E extends Error = Error> = E & { code: string };

/** Gives `error` its `code` and returns it: the one place the library sets error codes. */
export function withCode<E extends Error>(error: E, code: string): CodedError<E> {
  (error as CodedError<E>).code = code;
  return error as CodedError<E>;
}

export function typeError(name: string, expected: string, value: unknown): TypeError {
  return withCode(new TypeError(`Expected ${expected} for ${name} but received ${describe(value)}${lookAlike(value)}`), "ERR_INVALID_ARG_TYPE");
}

/** Classes whose instances are checked by brand, with the check: an object that merely has their prototype is a look-alike. */
const brandChecks = new WeakMap<object, (value: unknown) => boolean>();

export function registerBrand(type: object, isInstance: (value: unknown) => boolean): void {
  brandChecks.set(type, isInstance);
}

function lookAlike(value: unknown): string {
  if (typeof value !== "object" || value === null) return "";
  try {
    const isInstance = brandChecks.get((Object.getPrototypeOf(value) as { constructor?: object } | null)?.constructor ?? {});
    return isInstance !== undefined && !isInstance(value) ? " that the library did not construct (a look-alike made from its prototype)" : "";
  } catch {
    return ""; // a Proxy whose traps throw
  }
}

export function rangeError(name: string, expected: string, value: unknown): RangeError {
  return withCode(new RangeError(`Expected ${expected} for ${name} but received ${describe(value)}`), "ERR_OUT_OF_RANGE");
}

/**
 * `value instanceof Float32Array` and friends, but true across realms too (vm contexts, test
 * runners and typed arrays made by the native addon all have their own constructors).
 */
export function isTypedArray<T extends ArrayBufferView>(value: unknown, type: { name: string; prototype: T }): value is T {
  return typedArrayName.call(value) === type.name;
}

// %TypedArray%.prototype[Symbol.toStringTag]: the kind of a typed array from its internal slot
// (an own Symbol.toStringTag cannot fake it), undefined for anything else.
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get!;

/**
 * A native error whose message names an argument `from` (first, as the native layer writes them),
 * renamed to what the caller called it.
 */
export function renameArgument(error: unknown, from: string, to: string): unknown {
  // Not instanceof Error: the addon's errors may come from another realm (a vm context, jest).
  const e = error as { message?: unknown } | null;
  if (typeof e === "object" && e !== null && typeof e.message === "string" && from !== to && e.message.includes(from))
    e.message = e.message.replace(from, to);
  return error;
}

/** An object holding options or fields: not an array, a typed array, or a state or optimizer of this library. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value) && !isBranded(value);
}

/** An instance (or look-alike) of a class checked by brand: its getters are not options. */
function isBranded(value: object): boolean {
  try {
    const constructor = (Object.getPrototypeOf(value) as { constructor?: object } | null)?.constructor;
    return constructor !== undefined && brandChecks.has(constructor);
  } catch {
    return false; // a Proxy whose traps throw: reading it will throw its own error
  }
}

export function requireObject(value: unknown, name: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw typeError(name, "an object", value);
  return value;
}

/** Rejects keys that are not options, so a typo ('learningRate') does not pass silently. */
export function rejectUnknownKeys(value: Record<string, unknown>, name: string, allowed: readonly string[]): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key))
      throw withCode(new TypeError(`Unknown option ${name}.${key}: expected only ${allowed.join(", ")}`), "ERR_INVALID_ARG_TYPE");
}

export function requireNumber(value: unknown, name: string): number {
  if (typeof value !== "number") throw typeError(name, "a number", value);
  return value;
}

/** A number in a range: `lower`/`upper` with `open` flags. */
export function requireNumberIn(
  value: unknown,
  name: string,
  lower: number,
  upper: number,
  { lowerOpen = false, upperOpen = false } = {},
): number {
  const v = requireNumber(value, name);
  const ok = (lowerOpen ? v > lower : v >= lower) && (upperOpen ? v < upper : v <= upper);
  if (!ok) {
    const range = `${lowerOpen ? "(" : "["}${lower}, ${upper === Infinity ? "Infinity" : upper}${upperOpen ? ")" : "]"}`;
    throw rangeError(name, `a number in ${range}`, v);
  }
  return v;
}

export function requireInteger(value: unknown, name: string, min: number, max: number): number {
  const v = requireNumber(value, name);
  if (!Number.isInteger(v) || v < min || v > max) throw rangeError(name, `an integer in [${min}, ${max}]`, v);
  return v;
}

export function requireOneOf<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (typeof value !== "string" || !choices.includes(value as T))
    throw typeError(name, `one of ${choices.map((c) => `'${c}'`).join(", ")}`, value);
  return value as T;
}
