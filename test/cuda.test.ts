// The CUDA backend through the public API. Part 1 runs everywhere: the errors of a machine without
// a usable CUDA device, 'auto' resolving, device tensors and streams refused for CPU states, the
// checks of device tensor records in TypeScript and again natively. Part 2 needs a usable device
// (backends().cuda.usable) and is skipped with a printed notice otherwise: every CUDA result is
// compared with the CPU engine's bit for bit (params and checkpoint bytes).
import * as fs from "fs";
import {
  AdamW,
  adamWStep,
  backends,
  createAdamWState,
  createMicroAdamState,
  DeviceArray,
  MicroAdam,
  MicroAdamState,
  microAdamStep,
  microAdamStepAsync,
  synchronize,
  toBf16,
  toF16,
  type Dtype,
  type MicroAdamStepOptions,
  type StepTensor,
  type Tensor,
} from "../lib";
import { binding } from "../lib/binding";

const cuda = backends().cuda;
const usable = cuda.usable;
const reason = cuda.compiled ? `${cuda.error} (error ${cuda.errorCode})` : cuda.error;
if (!usable)
  console.warn(
    `SKIPPED: no usable CUDA device: ${reason}. The real-GPU tests of test/cuda.test.ts did not run ` +
      `(they run by themselves where backends().cuda.usable is true).`,
  );
const onGpu = usable ? describe : describe.skip;
const withoutGpu = usable ? describe.skip : describe;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Gradient-like values with exact ties, zeros and both signs. */
function values(n: number, seed: number, scale = 1e-2): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const u = next();
    if (u < 0.05) return 0;
    if (u < 0.1) return scale; // ties
    return (next() - 0.5) * scale * (u < 0.2 ? 40 : 1);
  });
}

function asDtype(v: Float32Array, dtype: Dtype): Tensor {
  return dtype === "f32" ? v.slice() : dtype === "bf16" ? toBf16(v) : toF16(v);
}

function hostData(t: Tensor): Float32Array | Uint16Array {
  return t instanceof Float32Array ? t : t.data;
}

function bytes(data: Float32Array | Uint16Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const DTYPES: Dtype[] = ["f32", "bf16", "f16"];

/** What `fn` throws. Errors made by the addon belong to another realm than jest's, so classes are compared by name. */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a throw, but the call returned");
}

function expectThrow(fn: () => unknown, type: { name: string }, message: string): void {
  const e = thrown(fn);
  expect({ name: e.name, message: e.message }).toEqual({ name: type.name, message });
}
const HYPER: MicroAdamStepOptions = { lr: 1e-3, weightDecay: 0.01 };

describe("on every machine", () => {
  test("backends() reports whether CUDA was compiled in and, if it is not usable, why", () => {
    if (fs.existsSync("/usr/local/cuda/bin/nvcc") || process.env.MICROADAM_REQUIRE_CUDA_BUILD) expect(cuda.compiled).toBe(true);
    if (usable) {
      expect(cuda.devices.length).toBeGreaterThan(0);
      for (const d of cuda.devices) {
        expect(d.name).toMatch(/\S/);
        expect(d.totalMemoryBytes).toBeGreaterThan(0);
        expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
        expect(d.largestTopkBlockSize).toBeGreaterThanOrEqual(4096); // the default layout fits
      }
    } else {
      expect(cuda.devices).toEqual([]);
      expect(cuda.error).toMatch(/\S/);
      if (cuda.compiled) {
        expect(cuda.errorCode).not.toBe(0);
        expect(cuda.error).toMatch(/^cuda\w+: \S/); // the runtime's error name and string
      }
    }
  });

  test("'auto' is CUDA exactly when a device is usable; 'cpu' (the default) is the CPU", () => {
    const auto = createMicroAdamState({ numel: 10, device: "auto" });
    expect(auto.device).toBe(usable ? "cuda" : "cpu");
    expect(new MicroAdam([new Float32Array(5)], { denseBelow: 0, lr: 1e-3, device: "auto" }).device).toBe(auto.device);
    for (const cpu of [createMicroAdamState({ numel: 10 }), createMicroAdamState({ numel: 10, device: "cpu" })]) {
      expect(cpu.device).toBe("cpu");
      expect(cpu.deviceIndex).toBeUndefined();
      expect(cpu.native.device).toBe("cpu");
    }
    expect(new MicroAdam([new Float32Array(5)], { denseBelow: 0, lr: 1e-3 }).device).toBe("cpu");
    expect(new MicroAdam([new Float32Array(5)], { denseBelow: 0, lr: 1e-3, device: "cpu" }).device).toBe("cpu");
  });

  test("state and DeviceArray options are checked before any device is asked for", () => {
    const cases: [() => unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, string][] = [
      [() => createMicroAdamState({ numel: 10, device: "gpu" as never }), TypeError, `Expected one of 'cpu', 'cuda', 'auto' for options.device but received "gpu" of type string`],
      [() => createMicroAdamState({ numel: 10, deviceIndex: -1 }), RangeError, "Expected an integer in [0, 65535] for options.deviceIndex but received -1 of type number"],
      [() => createMicroAdamState({ numel: 10, deviceIndex: "0" as never }), TypeError, `Expected a number for options.deviceIndex but received "0" of type string`],
      [() => new MicroAdam([new Float32Array(3)], { denseBelow: 0, lr: 1, deviceIndex: 0.5 }), RangeError, "Expected an integer in [0, 65535] for options.deviceIndex but received 0.5 of type number"],
      [() => new DeviceArray(0, "f32"), RangeError, "Expected an integer in [1, 9007199254740991] for numel but received 0 of type number"],
      [() => new DeviceArray(4, "f64" as never), TypeError, `Expected one of 'f32', 'bf16', 'f16' for dtype but received "f64" of type string`],
      [() => new DeviceArray(4, "f32", { device: 1 } as never), TypeError, "Unknown option options.device: expected only deviceIndex"],
      [() => new DeviceArray(4, "f32", { deviceIndex: 1.5 }), RangeError, "Expected an integer in [0, 65535] for options.deviceIndex but received 1.5 of type number"],
      [() => DeviceArray.from(new Uint16Array(3) as never), TypeError, "Expected a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' } for source but received Uint16Array of length 3"],
      [() => DeviceArray.from({ data: new Float32Array(3), dtype: "bf16" } as never), TypeError, "Expected a Uint16Array (dtype 'bf16') for source.data but received Float32Array of length 3"],
      [() => synchronize({ stream: 1 } as never), TypeError, "Expected a bigint (a cudaStream_t; 0n for the engine's own stream) for options.stream but received 1 of type number"],
      [() => synchronize({ stream: -1n }), RangeError, "Expected a bigint in [0, 2^64 - 1] (a cudaStream_t) for options.stream but received -1n of type bigint"],
      [() => synchronize({ device: 0 } as never), TypeError, "Unknown option options.device: expected only deviceIndex, stream"],
    ];
    for (const [fn, type, message] of cases) {
      expect(fn).toThrow(type);
      expect(fn).toThrow(message);
    }
  });

  describe("CPU states refuse device tensors and streams", () => {
    const record = { ptr: 0x7f0000001000n, numel: 8, dtype: "f32", device: "cuda" } as const;
    const host = "a host tensor (a Float32Array or { data: Uint16Array, dtype: 'bf16' | 'f16' }; the state lives on the CPU)";

    test("microAdamStep, microAdamStepAsync and adamWStep, naming the argument", async () => {
      const state = createMicroAdamState({ numel: 8, device: "cpu" });
      const p = new Float32Array(8);
      const g = values(8, 1);
      expect(() => microAdamStep(state, record, g, HYPER)).toThrow(
        new TypeError(`Expected ${host} for params but received a CUDA device tensor of 8 elements (dtype 'f32')`),
      );
      expect(() => microAdamStep(state, p, { ...record, dtype: "bf16" }, HYPER)).toThrow(
        `Expected ${host} for grads but received a CUDA device tensor of 8 elements (dtype 'bf16')`,
      );
      await expect(microAdamStepAsync(state, p, record, HYPER)).rejects.toThrow(`for grads but received a CUDA device tensor`);
      expect(() => adamWStep(createAdamWState({ numel: 8 }), record as never, g, { lr: 1 })).toThrow(`Expected ${host} for params`);
      expect(() => microAdamStep(state, p, g, { ...HYPER, stream: 0n })).toThrow(
        new TypeError("Expected no stream for options.stream (a stream is for CUDA states; these states live on the CPU) but received 0n of type bigint"),
      );
      expect(state.step).toBe(0);
      expect(p).toEqual(new Float32Array(8));
    });

    test("MicroAdam and AdamW, at construction and at each step", () => {
      expect(() => new MicroAdam([new Float32Array(3), record], { denseBelow: 0, lr: 1, device: "cpu" })).toThrow(
        `Expected ${host} for params[0].params[1] but received a CUDA device tensor of 8 elements (dtype 'f32')`,
      );
      expect(() => new AdamW([record as never], { lr: 1 })).toThrow(`Expected ${host} for params[0].params[0]`);
      const opt = new MicroAdam([new Float32Array(8)], { denseBelow: 0, lr: 1, device: "cpu" });
      expect(() => opt.step([record])).toThrow(`Expected ${host} for grads[0] but received a CUDA device tensor`);
      expect(() => opt.step([values(8, 2)], { stream: 1n })).toThrow("Expected no stream for options.stream");
      expect(() => opt.step([values(8, 2)], { streams: 1n } as never)).toThrow("Unknown option options.streams: expected only stream");
      expect(opt.stepCount).toBe(0);
    });

    test("device tensor records are checked field by field, naming each", () => {
      const state = createMicroAdamState({ numel: 8, device: "cpu" });
      const p = new Float32Array(8);
      const cases: [unknown, ErrorConstructor, string][] = [
        [{ ...record, device: "gpu" }, TypeError, `Expected 'cuda' (a device tensor { ptr: bigint, numel, dtype: 'f32' | 'bf16' | 'f16', device: 'cuda' }) for grads.device but received "gpu" of type string`],
        [{ ptr: 5n, numel: 8, dtype: "f32" }, TypeError, "Expected 'cuda' (a device tensor { ptr: bigint, numel, dtype: 'f32' | 'bf16' | 'f16', device: 'cuda' }) for grads.device but received undefined"],
        [{ ...record, ptr: 4096 }, TypeError, "Expected a bigint (a device address) for grads.ptr but received 4096 of type number"],
        [{ ...record, ptr: 0n }, RangeError, "Expected a bigint in [1, 2^64 - 1] (a device address) for grads.ptr but received 0n of type bigint"],
        [{ ...record, ptr: 1n << 64n }, RangeError, "Expected a bigint in [1, 2^64 - 1] (a device address) for grads.ptr but received 18446744073709551616n of type bigint"],
        [{ ...record, numel: 2.5 }, RangeError, "Expected an integer in [1, 9007199254740991] for grads.numel but received 2.5 of type number"],
        [{ ...record, dtype: "f64" }, TypeError, `Expected one of 'f32', 'bf16', 'f16' for grads.dtype but received "f64" of type string`],
      ];
      for (const [grads, type, message] of cases) {
        const call = () => microAdamStep(state, p, grads as StepTensor, HYPER);
        expect(call).toThrow(type);
        expect(call).toThrow(message);
      }
    });

    test("the native layer checks again, reading ptr from a BigInt losslessly", () => {
      const state = createMicroAdamState({ numel: 8, device: "cpu" });
      const hyper = new Float64Array([1e-3, 0.9, 0.999, 1e-8, 0, 0]);
      const call = (params: unknown, grads: unknown, ...rest: unknown[]) => () =>
        (binding.step as (...a: unknown[]) => unknown)([state.native], [params], [grads], new Uint8Array(2), hyper, 0, ...rest);
      const p = new Float32Array(8);
      const g = values(8, 3);
      const cases: [() => unknown, ErrorConstructor, string][] = [
        [call(record, g), TypeError, "Expected a host tensor (a typed array) for params[0] (states[0] lives on the CPU) but received a CUDA device tensor"],
        [call(p, { ...record, ptr: 1n << 64n }), RangeError, "Expected a bigint in [1, 2^64 - 1] (a device address) for grads[0].ptr but received one outside it"],
        [call(p, { ...record, ptr: -5n }), RangeError, "Expected a bigint in [1, 2^64 - 1] (a device address) for grads[0].ptr but received one outside it"],
        [call(p, { ...record, ptr: 5 }), TypeError, "Expected a bigint (a device address) for grads[0].ptr but received number 5"],
        [call(p, { ...record, device: "cpu" }), TypeError, "Expected 'cuda' for grads[0].device but received a string"],
        [call(p, { ...record, dtype: "bf16" }), TypeError, "Expected 'f32' (its code in dtypes) for grads[0].dtype but received 'bf16'"],
        [call(p, { ...record, numel: -1 }), RangeError, "Expected an integer in [1, 9007199254740991] for grads[0].numel but received number -1"],
        [call(p, g, 0), TypeError, "Expected a bigint (a cudaStream_t; 0n for the engine's own stream) for stream but received number 0"],
        [call(p, g, -1n), RangeError, "Expected a bigint in [0, 2^64 - 1] (a cudaStream_t) for stream but received one outside it"],
        [call(p, g, 0n), TypeError, "Expected no stream for stream (a stream is for CUDA states; these live on the CPU) but received a bigint"],
      ];
      for (const [fn, type, message] of cases) expectThrow(fn, type, message);
      expect(state.step).toBe(0);
      expect(call(p, g)()).toEqual({ skipped: false, steps: [1] });
    });
  });
});

withoutGpu("without a usable CUDA device", () => {
  test("device 'cuda' throws an Error naming options.device with the CUDA runtime's reason", () => {
    const why = cuda.compiled ? `the CUDA runtime reports ${cuda.error} (error ${cuda.errorCode})` : "this build has no CUDA backend";
    const expected = { code: "ERR_MICROADAM_DEVICE", message: expect.stringContaining(`options.device 'cuda' needs a usable CUDA device but ${why}`) };
    expect(() => createMicroAdamState({ numel: 10, device: "cuda" })).toThrow(expect.objectContaining(expected));
    expect(() => new MicroAdam([new Float32Array(4)], { denseBelow: 0, lr: 1, device: "cuda" })).toThrow(expect.objectContaining(expected));
    const bytes = createMicroAdamState({ numel: 10, device: "cpu" }).toBuffer();
    expect(() => MicroAdamState.fromBuffer(bytes, { device: "cuda" })).toThrow(expect.objectContaining({ code: "ERR_MICROADAM_DEVICE" }));
    expect(MicroAdamState.fromBuffer(bytes).device).toBe("cpu");
    // The native layer says the same to a caller that bypasses the facade.
    const native = () => new binding.NativeState({ numel: 10, window: 2, density: 0.5, topkBlockSize: 64, quantBlockSize: 64, device: "cuda" });
    expect(native).toThrow(expect.objectContaining(expected));
  });

  test("DeviceArray, DeviceArray.from and synchronize throw a clear Error, not a crash", () => {
    const why = cuda.compiled ? `the CUDA runtime reports ${cuda.error}` : "this build has no CUDA backend";
    expect(() => new DeviceArray(16, "f32")).toThrow(
      expect.objectContaining({ code: "ERR_MICROADAM_DEVICE", message: expect.stringContaining(`DeviceArray needs a usable CUDA device but ${why}`) }),
    );
    expect(() => DeviceArray.from(new Float32Array(4))).toThrow(expect.objectContaining({ code: "ERR_MICROADAM_DEVICE" }));
    expect(() => synchronize()).toThrow(
      expect.objectContaining({ code: "ERR_MICROADAM_DEVICE", message: expect.stringContaining(`synchronize() needs a usable CUDA device but ${why}`) }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Real GPU: every result equal to the CPU engine's, bit for bit.

/** A CPU state and a CUDA state of the same layout, stepped with the same inputs. */
function twins(numel: number, layout: { window?: number; density?: number; topkBlockSize?: number; quantBlockSize?: number } = {}) {
  return {
    cpu: createMicroAdamState({ numel, ...layout, device: "cpu" }),
    gpu: createMicroAdamState({ numel, ...layout, device: "cuda" }),
  };
}

function expectSameState(gpu: MicroAdamState, cpu: MicroAdamState, what: string): void {
  const same = gpu.toBuffer().equals(cpu.toBuffer());
  if (!same) throw new Error(`${what}: the CUDA state's checkpoint bytes differ from the CPU state's`);
  expect(gpu.step).toBe(cpu.step);
}

function expectSameBits(a: Float32Array | Uint16Array, b: Float32Array | Uint16Array, what: string): void {
  if (!bytes(a).equals(bytes(b))) {
    const wa = new Uint16Array(a.buffer, a.byteOffset, a.byteLength / 2);
    const wb = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
    const i = wa.findIndex((w, k) => w !== wb[k]);
    throw new Error(`${what}: params differ from the CPU engine's (first at 16-bit word ${i}: ${wa[i]} vs ${wb[i]})`);
  }
}

onGpu("on a CUDA device", () => {
  const device = cuda.devices[0] ?? { name: "none", computeCapability: "-" };

  test(`states live on the device (${device.name}, ${device.computeCapability}) and report it`, () => {
    const s = createMicroAdamState({ numel: 1000, device: "cuda" });
    expect(s.device).toBe("cuda");
    expect(s.deviceIndex).toBe(0);
    expect(s.native.device).toBe("cuda");
    expect(s.stateBytes).toBe(createMicroAdamState({ numel: 1000, device: "cpu" }).stateBytes);
    expect(s.toBuffer().equals(createMicroAdamState({ numel: 1000, device: "cpu" }).toBuffer())).toBe(true);
    expect(() => createMicroAdamState({ numel: 10, device: "cuda", deviceIndex: cuda.devices.length })).toThrow(RangeError);
    expect(() => createMicroAdamState({ numel: 10, device: "cuda", deviceIndex: cuda.devices.length })).toThrow(
      `Expected the index of a CUDA device (${cuda.devices.length} found) for options.deviceIndex`,
    );
  });

  test("a Top-K block larger than the device's shared memory: 'cuda' is a RangeError naming options.topkBlockSize, 'auto' the CPU", () => {
    const largest = cuda.devices[0].largestTopkBlockSize;
    expect(largest).toBeLessThan(65536);
    expect(createMicroAdamState({ numel: 100, topkBlockSize: 65536 }).device).toBe("cpu");
    expect(createMicroAdamState({ numel: 100, topkBlockSize: largest - (largest % 64), quantBlockSize: 64 }).device).toBe("cuda");
    const e = thrown(() => createMicroAdamState({ numel: 100, topkBlockSize: 65536, device: "cuda" }));
    expect(e.name).toBe("RangeError");
    expect(e.message).toMatch(/^options\.topkBlockSize must be at most \d+ on CUDA device 0 .*received 65536$/);
  });

  test.each(DTYPES.flatMap((p) => DTYPES.map((g) => [p, g] as const)))(
    "params %s, grads %s: odd sizes, host tensors and DeviceArrays, equal to the CPU bit for bit",
    (pd, gd) => {
      const layout = { window: 3, topkBlockSize: 512, quantBlockSize: 64 };
      for (const numel of [1, 63, 4097, 70_001]) {
        const init = values(numel, numel, 1);
        const cpuParams = asDtype(init, pd);
        const hostParams = asDtype(init, pd);
        const arrayParams = DeviceArray.from(asDtype(init, pd));
        const cpu = createMicroAdamState({ numel, ...layout, device: "cpu" });
        const viaHost = createMicroAdamState({ numel, ...layout, device: "cuda" });
        const viaDevice = createMicroAdamState({ numel, ...layout, device: "cuda" });
        const arrayGrads = new DeviceArray(numel, gd);
        for (let t = 1; t <= 5; t++) {
          const g = asDtype(values(numel, 1000 * t + numel), gd);
          const options = { lr: 1e-3 * t, weightDecay: t % 2 ? 0 : 0.01, alpha: t === 4 ? 0.25 : 0 };
          arrayGrads.upload(hostData(g));
          microAdamStep(cpu, cpuParams, g, options);
          microAdamStep(viaHost, hostParams, g, options);
          microAdamStep(viaDevice, arrayParams, arrayGrads, options);
          const what = `${pd}/${gd}, numel ${numel}, step ${t}`;
          expectSameBits(hostData(hostParams), hostData(cpuParams), `${what} (host tensors)`);
          expectSameBits(arrayParams.download(), hostData(cpuParams), `${what} (DeviceArrays)`);
          expectSameState(viaHost, cpu, `${what} (host tensors)`);
          expectSameState(viaDevice, cpu, `${what} (DeviceArrays)`);
        }
        arrayParams.free();
        arrayGrads.free();
      }
    },
  );

  test("many tensors in one call (a MicroAdam of 40, mixed dtypes and sizes) equal the CPU optimizer", () => {
    const next = rng(7);
    const sizes = Array.from({ length: 40 }, () => 1 + Math.floor(next() * 20_000));
    const dtypes = sizes.map((_, i) => DTYPES[i % 3]);
    const make = (device: "cpu" | "cuda") => {
      const params = sizes.map((n, i) => asDtype(values(n, i, 1), dtypes[i]));
      return { params, opt: new MicroAdam([{ params: params.slice(0, 20) }, { params: params.slice(20), lr: 3e-4, weightDecay: 0.1 }], { denseBelow: 0, lr: 1e-3, device }) };
    };
    const cpu = make("cpu");
    const gpu = make("cuda");
    expect(gpu.opt.device).toBe("cuda");
    for (let t = 1; t <= 8; t++) {
      const grads = sizes.map((n, i) => asDtype(values(n, 100 * t + i), dtypes[(i + t) % 3]));
      cpu.opt.step(grads);
      gpu.opt.step(grads);
    }
    gpu.params.forEach((p, i) => expectSameBits(hostData(p), hostData(cpu.params[i]), `tensor ${i}`));
    expect(gpu.opt.toBuffer().equals(cpu.opt.toBuffer())).toBe(true);
  });

  test("a long run (600 steps, window 10) stays equal to the CPU", () => {
    const numel = 30_011;
    const { cpu, gpu } = twins(numel, { topkBlockSize: 1024 });
    const pc = values(numel, 5, 1);
    const pg = DeviceArray.from(pc);
    const grads = new DeviceArray(numel, "f32");
    for (let t = 1; t <= 600; t++) {
      const g = values(numel, t);
      grads.upload(g);
      microAdamStep(cpu, pc, g, { lr: 1e-3, weightDecay: 1e-4 });
      microAdamStep(gpu, pg, grads, { lr: 1e-3, weightDecay: 1e-4 });
      if (t % 150 === 0) {
        expectSameBits(pg.download(), pc, `step ${t}`);
        expectSameState(gpu, cpu, `step ${t}`);
      }
    }
    pg.free();
    grads.free();
  });

  test("host tensors, DeviceArrays and device tensor records together in one MicroAdam step", () => {
    const n = [1000, 257, 5000];
    const cpuParams: Tensor[] = [values(n[0], 1, 1), toBf16(values(n[1], 2, 1)), values(n[2], 3, 1)];
    const hostParam = values(n[0], 1, 1);
    const arrayParam = DeviceArray.from(toBf16(values(n[1], 2, 1)));
    const foreign = DeviceArray.from(values(n[2], 3, 1)); // "another framework's" memory, passed by address
    const foreignTensor = { ptr: foreign.ptr, numel: n[2], dtype: "f32", device: "cuda" } as const;
    const cpu = new MicroAdam(cpuParams, { denseBelow: 0, lr: 1e-3, device: "cpu" });
    const gpu = new MicroAdam([hostParam, arrayParam, foreignTensor], { denseBelow: 0, lr: 1e-3, device: "cuda" });
    const gradArray = new DeviceArray(n[1], "f16");
    for (let t = 1; t <= 6; t++) {
      const g: Tensor[] = [values(n[0], 10 + t), toF16(values(n[1], 20 + t)), values(n[2], 30 + t)];
      gradArray.upload(hostData(g[1]));
      const gradRecord = DeviceArray.from(g[2] as Float32Array);
      cpu.step(g);
      gpu.step([g[0], gradArray, { ptr: gradRecord.ptr, numel: n[2], dtype: "f32", device: "cuda" }]);
      gradRecord.free();
    }
    expectSameBits(hostParam, cpuParams[0] as Float32Array, "host params");
    expectSameBits(arrayParam.download(), hostData(cpuParams[1]), "DeviceArray params");
    expectSameBits(foreign.download(), cpuParams[2] as Float32Array, "device tensor params");
    expect(gpu.toBuffer().equals(cpu.toBuffer())).toBe(true);
    // Two tensors at the same address are one tensor twice.
    expect(() => new MicroAdam([foreignTensor, { ...foreignTensor }], { denseBelow: 0, lr: 1, device: "cuda" })).toThrow("a tensor other than params[0]");
    [arrayParam, foreign, gradArray].forEach((a) => a.free());
  });

  test("DeviceArray: round trips of every dtype, from(), download into a given array, free()", () => {
    for (const dtype of DTYPES) {
      const host = hostData(asDtype(values(1001, 9, 3), dtype));
      const a = DeviceArray.from(dtype === "f32" ? (host as Float32Array) : { data: host as Uint16Array, dtype: dtype as "bf16" });
      expect([a.device, a.dtype, a.numel, a.deviceIndex, a.byteLength, a.freed]).toEqual(["cuda", dtype, 1001, 0, 1001 * (dtype === "f32" ? 4 : 2), false]);
      expect(typeof a.ptr).toBe("bigint");
      expect(a.ptr > 0n).toBe(true);
      expect(bytes(a.download()).equals(bytes(host))).toBe(true);
      const other = hostData(asDtype(values(1001, 10, 3), dtype));
      a.upload(other);
      const into = dtype === "f32" ? new Float32Array(1001) : new Uint16Array(1001);
      expect(a.download(into)).toBe(into);
      expect(bytes(into).equals(bytes(other))).toBe(true);
      expect(() => a.upload(new Float32Array(5) as never)).toThrow(dtype === "f32" ? RangeError : TypeError);
      expect(() => a.download(new Float64Array(1001) as never)).toThrow(TypeError);
      if (dtype !== "f32")
        expect(() => a.upload({ data: new Uint16Array(1001), dtype: dtype === "bf16" ? "f16" : "bf16" })).toThrow(
          `Expected '${dtype}' (the DeviceArray's dtype) for source.dtype but received "${dtype === "bf16" ? "f16" : "bf16"}" of type string`,
        );
      a.free();
      a.free(); // idempotent
      expect(a.freed).toBe(true);
      const freed = expect.objectContaining({ code: "ERR_MICROADAM_STATE", message: expect.stringContaining("freed") });
      expect(() => a.ptr).toThrow(freed);
      expect(() => a.download()).toThrow(freed);
      expect(() => a.upload(other)).toThrow(freed);
      const state = createMicroAdamState({ numel: 1001, device: "cuda" });
      expect(() => microAdamStep(state, a, a, HYPER)).toThrow(expect.objectContaining({ code: "ERR_MICROADAM_STATE", message: "params was freed: a DeviceArray cannot be used after free()" }));
    }
  });

  test("a CUDA error becomes an Error with code ERR_MICROADAM_CUDA carrying the CUDA error string", () => {
    const huge = () => new DeviceArray(2 ** 50, "f32"); // 4 PiB
    expect(huge).toThrow(expect.objectContaining({ code: "ERR_MICROADAM_CUDA", message: expect.stringMatching(/cudaErrorMemoryAllocation: \S/) }));
    // The device still works afterwards.
    const { cpu, gpu } = twins(100);
    const p1 = values(100, 1, 1);
    const p2 = p1.slice();
    microAdamStep(cpu, p1, values(100, 2), HYPER);
    microAdamStep(gpu, p2, values(100, 2), HYPER);
    expectSameBits(p2, p1, "after the failed allocation");
  });

  test("one call steps states of one device: mixing CPU and CUDA states is a TypeError naming the state", () => {
    const cpu = createMicroAdamState({ numel: 8, device: "cpu" });
    const gpu = createMicroAdamState({ numel: 8, device: "cuda" });
    const hyper = new Float64Array(12).fill(0.5);
    const step = (states: MicroAdamState[]) => () =>
      binding.step(states.map((s) => s.native), [new Float32Array(8), new Float32Array(8)], [values(8, 1), values(8, 2)], new Uint8Array(4), hyper, 0);
    expectThrow(step([cpu, gpu]), TypeError, "Expected a CPU state for states[1] (states[0] lives on the CPU; one call steps states of one device) but received a CUDA state");
    expectThrow(step([gpu, cpu]), TypeError, "Expected a CUDA state for states[1] (states[0] lives on CUDA; one call steps states of one device) but received a CPU state");
    expect([cpu.step, gpu.step, cpu.busy, gpu.busy]).toEqual([0, 0, false, false]);
  });

  test("non-finite gradients: 'skip' changes nothing, 'error' throws, as on the CPU", () => {
    const { cpu, gpu } = twins(5000);
    const p = values(5000, 1, 1);
    const before = gpu.toBuffer();
    const g = values(5000, 2);
    g[4321] = NaN;
    const gArray = DeviceArray.from(g);
    expect(microAdamStep(gpu, p, g, HYPER)).toEqual({ step: 0, skipped: true });
    expect(microAdamStep(gpu, DeviceArray.from(p), gArray, HYPER)).toEqual({ step: 0, skipped: true });
    expect(() => microAdamStep(gpu, p, g, { ...HYPER, nonFinite: "error" })).toThrow(expect.objectContaining({ code: "ERR_MICROADAM_NON_FINITE" }));
    expect(gpu.toBuffer().equals(before)).toBe(true);
    expect(bytes(p).equals(bytes(values(5000, 1, 1)))).toBe(true);
    const pc = p.slice();
    microAdamStep(cpu, pc, g, { ...HYPER, nonFinite: "ignore" });
    microAdamStep(gpu, p, g, { ...HYPER, nonFinite: "ignore" });
    expectSameBits(p, pc, "nonFinite 'ignore'");
    expectSameState(gpu, cpu, "nonFinite 'ignore'");
    gArray.free();
  });

  test("a state moves CPU -> CUDA -> CPU through checkpoints and state dicts, same bytes, same results", () => {
    const numel = 9000;
    const ref = createMicroAdamState({ numel, device: "cpu" });
    const pRef = values(numel, 1, 1);
    const p = pRef.slice();
    let state = createMicroAdamState({ numel, device: "cpu" });
    const step = (s: MicroAdamState, params: Float32Array, t: number) => microAdamStep(s, params, values(numel, 50 + t), HYPER);
    for (let t = 1; t <= 12; t++) {
      step(ref, pRef, t);
      if (t === 4) state = MicroAdamState.fromBuffer(state.toBuffer(), { device: "cuda" });
      if (t === 8) state = MicroAdamState.fromBuffer(state.toBuffer(), { device: "cpu" });
      expect(state.device).toBe(t >= 4 && t < 8 ? "cuda" : "cpu");
      step(state, p, t);
      expectSameState(state, ref, `step ${t} (${state.device})`);
    }
    expectSameBits(p, pRef, "after the moves");
    // Snapshots restore across backends too, and state dicts across optimizers.
    const restored = createMicroAdamState({ numel, device: "cuda" });
    restored.restore(ref.snapshot());
    expect(restored.snapshot()).toEqual(ref.snapshot());
    const cpuOpt = new MicroAdam([values(100, 1, 1), values(300, 2, 1)], { denseBelow: 0, lr: 1e-3, device: "cpu" });
    cpuOpt.step([values(100, 3), values(300, 4)]);
    const gpuOpt = new MicroAdam([values(100, 1, 1), values(300, 2, 1)], { denseBelow: 0, lr: 1e-3, device: "cuda" });
    gpuOpt.loadStateDict(cpuOpt.stateDict());
    expect(gpuOpt.toBuffer().equals(cpuOpt.toBuffer())).toBe(true);
    gpuOpt.loadBuffer(cpuOpt.toBuffer());
    expect(gpuOpt.stateDict()).toEqual(cpuOpt.stateDict());
  });

  test("streams: the engine's own (0n), the legacy and per-thread default streams; synchronize()", () => {
    const numel = 20_000;
    const { cpu, gpu } = twins(numel);
    const pc = values(numel, 1, 1);
    const pg = DeviceArray.from(pc);
    const grads = new DeviceArray(numel, "f32");
    // cudaStreamLegacy = 1, cudaStreamPerThread = 2: real handles every CUDA program has.
    const streams = [0n, 1n, 2n, 1n];
    streams.forEach((stream, t) => {
      const g = values(numel, t + 1);
      grads.upload(g); // waits for the device first
      microAdamStep(cpu, pc, g, HYPER);
      expect(microAdamStep(gpu, pg, grads, { ...HYPER, stream })).toEqual({ step: t + 1, skipped: false });
      synchronize({ stream });
    });
    synchronize();
    synchronize({ deviceIndex: 0, stream: 0n });
    expectSameBits(pg.download(), pc, "after steps on several streams");
    expectSameState(gpu, cpu, "after steps on several streams");
    const opt = new MicroAdam([DeviceArray.from(values(64, 1, 1))], { denseBelow: 0, lr: 1e-3, device: "cuda" });
    expect(opt.step([DeviceArray.from(values(64, 2))], { stream: 2n })).toEqual({ step: 1, skipped: false });
    synchronize({ stream: 2n });
    pg.free();
    grads.free();
  });

  describe("async steps", () => {
    test("host tensors and DeviceArrays, equal to synchronous CPU steps; the busy flag as on the CPU", async () => {
      const numel = 50_000;
      const { cpu, gpu } = twins(numel);
      const pc = values(numel, 1, 1);
      const ph = pc.slice();
      const viaDevice = createMicroAdamState({ numel, device: "cuda" });
      const pd = DeviceArray.from(pc);
      for (let t = 1; t <= 6; t++) {
        const g = values(numel, 10 + t);
        microAdamStep(cpu, pc, g, HYPER);
        const pending = microAdamStepAsync(gpu, ph, g, HYPER);
        expect(gpu.busy).toBe(true);
        expect(() => microAdamStep(gpu, ph, g, HYPER)).toThrow("states[0] is busy");
        await expect(pending).resolves.toEqual({ step: t, skipped: false });
        expect(gpu.busy).toBe(false);
        const ga = DeviceArray.from(g);
        await expect(microAdamStepAsync(viaDevice, pd, ga, HYPER)).resolves.toEqual({ step: t, skipped: false });
        ga.free();
      }
      expectSameBits(ph, pc, "async, host tensors");
      expectSameBits(pd.download(), pc, "async, DeviceArrays");
      expectSameState(gpu, cpu, "async, host tensors");
      expectSameState(viaDevice, cpu, "async, DeviceArrays");
      pd.free();
    });

    test("MicroAdam.stepAsync on CUDA, and free() of a DeviceArray while its step is in flight", async () => {
      const sizes = [3000, 70_000, 17];
      const cpuParams = sizes.map((n, i) => values(n, i, 1));
      const cpu = new MicroAdam(cpuParams, { denseBelow: 0, lr: 1e-3, device: "cpu" });
      const gpuParams = sizes.map((n, i) => DeviceArray.from(values(n, i, 1)));
      const gpu = new MicroAdam(gpuParams, { denseBelow: 0, lr: 1e-3, device: "cuda" });
      for (let t = 1; t <= 4; t++) {
        const g = sizes.map((n, i) => values(n, 10 * t + i));
        cpu.step(g);
        const gArrays = g.map((x) => DeviceArray.from(x));
        const pending = gpu.stepAsync(gArrays);
        gArrays.forEach((a) => a.free()); // the step holds the memory until it is done
        await expect(pending).resolves.toEqual({ step: t, skipped: false });
      }
      gpuParams.forEach((p, i) => expectSameBits(p.download(), cpuParams[i], `tensor ${i}`));
      expect(gpu.toBuffer().equals(cpu.toBuffer())).toBe(true);
    });

    test("params detached during an async CUDA step: rejected, state put back bit for bit", async () => {
      const numel = 40_000;
      const { cpu, gpu } = twins(numel);
      const warm = values(numel, 1);
      const p0 = values(numel, 2, 1);
      microAdamStep(cpu, p0.slice(), warm, HYPER);
      microAdamStep(gpu, p0.slice(), warm, HYPER);
      const before = gpu.toBuffer();
      const params = p0.slice();
      const pending = microAdamStepAsync(gpu, params, values(numel, 3), HYPER);
      structuredClone(params.buffer, { transfer: [params.buffer] });
      await expect(pending).rejects.toThrow(expect.objectContaining({ code: "ERR_MICROADAM_DETACHED" }));
      expect(gpu.busy).toBe(false);
      expect(gpu.toBuffer().equals(before)).toBe(true);
      // And the next step is the one the CPU takes.
      const pc = p0.slice();
      const pg = p0.slice();
      microAdamStep(cpu, pc, values(numel, 4), HYPER);
      await microAdamStepAsync(gpu, pg, values(numel, 4), HYPER);
      expectSameBits(pg, pc, "after the undone step");
      expectSameState(gpu, cpu, "after the undone step");
    });
  });
});
