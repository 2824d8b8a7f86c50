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
  return `an object${value.constructor && value.constructor !== Object ? ` (${value.constructor.name})` : ""}`;
}

export function typeError(name: string, expected: string, value: unknown): TypeError {
  const e = new TypeError(`Expected ${expected} for ${name} but received ${describe(value)}`);
  (e as TypeError & { code: string }).code = "ERR_INVALID_ARG_TYPE";
  return e;
}

export function rangeError(name: string, expected: string, value: unknown): RangeError {
  const e = new RangeError(`Expected ${expected} for ${name} but received ${describe(value)}`);
  (e as RangeError & { code: string }).code = "ERR_OUT_OF_RANGE";
  return e;
}

/**
 * `value instanceof Float32Array` and friends, but true across realms too (vm contexts, test
 * runners and typed arrays made by the native addon all have their own constructors).
 */
export function isTypedArray<T extends ArrayBufferView>(value: unknown, type: { name: string; prototype: T }): value is T {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === `[object ${type.name}]`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

export function requireObject(value: unknown, name: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw typeError(name, "an object", value);
  return value;
}

/** Rejects keys that are not options, so a typo ('learningRate') does not pass silently. */
export function rejectUnknownKeys(value: Record<string, unknown>, name: string, allowed: readonly string[]): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) {
      const e = new TypeError(`Unknown option ${name}.${key}: expected only ${allowed.join(", ")}`);
      (e as TypeError & { code: string }).code = "ERR_INVALID_ARG_TYPE";
      throw e;
    }
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
