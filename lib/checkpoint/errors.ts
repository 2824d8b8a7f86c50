// Errors and argument checks shared by the checkpoint functions.
import type { LayoutRecord } from "./records";
import { isTypedArray, typeError, withCode } from "../validate";

export { checkpointError } from "./format";

/** A sound checkpoint that does not fit the state or optimizer it is loaded into. */
export function mismatchError(where: string, message: string): Error {
  return withCode(new Error(`${where} does not fit ${message}`), "ERR_MICROADAM_CHECKPOINT_MISMATCH");
}

/** A state that cannot be saved or loaded now (disposed, or a step on it is in flight). */
export function stateUnusableError(message: string): Error {
  return withCode(new Error(message), "ERR_MICROADAM_STATE");
}

export function requirePath(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0) throw typeError(name, "a file path (a non-empty string)", value);
  return value;
}

export function requireBytes(value: unknown, name: string): Uint8Array {
  if (!isTypedArray(value, Uint8Array)) throw typeError(name, "a Uint8Array or Buffer holding a checkpoint", value);
  return value;
}

const LAYOUT_FIELDS: readonly (keyof LayoutRecord)[] = [
  "numel", "window", "density", "topkBlockSize", "quantBlockSize", "blockCount", "bucketCount", "rowLength",
];

/** The first field in which two layouts differ, described; undefined if they are equal. */
export function layoutDifference(saved: LayoutRecord, actual: LayoutRecord): string | undefined {
  const field = LAYOUT_FIELDS.find((f) => !Object.is(saved[f], actual[f]));
  return field && `${field} is ${saved[field]} in the checkpoint but ${actual[field]} here`;
}

/** Every field of the checkpoint's layout equals the target's. */
export function checkLayoutMatches(saved: LayoutRecord, actual: LayoutRecord, where: string, target: string): void {
  const difference = layoutDifference(saved, actual);
  if (difference) throw mismatchError(where, `${target}: ${difference}`);
}

/**
 * A RangeError or TypeError raised while applying checkpoint content that passed its CRC
 * (a window index outside its block, a hyperparameter out of range) means the file was written
 * wrong or forged: it is reported as a damaged checkpoint, with the original as its cause.
 */
export function asContentError(error: unknown, where: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== "ERR_OUT_OF_RANGE" && code !== "ERR_INVALID_ARG_TYPE") return error;
  return withCode(new Error(`${where}: its content is invalid: ${(error as Error).message}`, { cause: error }), "ERR_MICROADAM_CHECKPOINT");
}
