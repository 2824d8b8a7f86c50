// The packed step call is defined once, in csrc/core/call_format.h; the facade's constants must
// equal what the compiled addon reports from that header (binding.callFormat()).
import { binding } from "../lib/binding";
import { HYPER_FIELDS, NON_FINITE_POLICIES, packHyper, policyCode } from "../lib/hyper";
import { DTYPE_CODE } from "../lib/tensor";

const format = binding.callFormat();

test("hyperparameters: the same fields in the same order, packed six per tensor", () => {
  expect([...HYPER_FIELDS]).toEqual(format.hyperFields);
  const h = { lr: 1, beta1: 2, beta2: 3, eps: 4, weightDecay: 5, alpha: 6 };
  const packed = packHyper([h, { ...h, lr: 7 }]);
  expect(packed.length).toBe(2 * format.hyperFields.length);
  format.hyperFields.forEach((field, k) => {
    expect(packed[k]).toBe(h[field as keyof typeof h]);
    expect(packed[format.hyperFields.length + k]).toBe(field === "lr" ? 7 : h[field as keyof typeof h]);
  });
});

test("dtype codes: each name at the core's code, two per tensor", () => {
  expect(Object.keys(DTYPE_CODE).sort()).toEqual([...format.dtypes].sort());
  format.dtypes.forEach((name, code) => expect(DTYPE_CODE[name as keyof typeof DTYPE_CODE]).toBe(code));
  expect(format.dtypesPerTensor).toBe(2);
});

test("non-finite policy codes: each name at the core's code", () => {
  expect([...NON_FINITE_POLICIES]).toEqual(format.nonFinitePolicies);
  format.nonFinitePolicies.forEach((name, code) => expect(policyCode(name as (typeof NON_FINITE_POLICIES)[number])).toBe(code));
});
