#!/usr/bin/env python3
"""Our fused MicroAdam CUDA step against torch.optim.AdamW(fused=True), side by side on one card.

Runs on a GPU machine with PyTorch and no Node (scripts/gpu-check.sh builds the C ABI library,
cuda/c_api.h, and runs this). Our kernels are called through ctypes with tensor.data_ptr() on
PyTorch's current stream, so both optimizers step the same kind of tensors, timed the same way:
CUDA events around each step, median of warm repetitions. Also measures the card's
device-to-device copy bandwidth (bytes read + written) as the ceiling for the bytes-moved
column. Prints a Markdown table last and writes every number to --out (JSON).
"""
import argparse
import ctypes
import json
import statistics
import sys
import time

import torch

DTYPES = {"f32": (torch.float32, 0), "bf16": (torch.bfloat16, 1)}


def load_library(path):
    lib = ctypes.CDLL(path)
    lib.microadam_state_create.argtypes = [ctypes.c_uint64, ctypes.c_uint32, ctypes.c_double, ctypes.c_uint32,
                                           ctypes.c_uint32, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
    lib.microadam_state_create.restype = ctypes.c_int
    lib.microadam_state_destroy.argtypes = [ctypes.c_void_p]
    lib.microadam_state_bytes.argtypes = [ctypes.c_void_p]
    lib.microadam_state_bytes.restype = ctypes.c_uint64
    lib.microadam_step.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p),
                                   ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_uint8),
                                   ctypes.POINTER(ctypes.c_double), ctypes.c_uint32, ctypes.c_int, ctypes.c_uint64,
                                   ctypes.POINTER(ctypes.c_int)]
    lib.microadam_step.restype = ctypes.c_int
    lib.microadam_last_error.restype = ctypes.c_char_p
    return lib


def check(lib, status):
    if status != 0:
        raise RuntimeError(lib.microadam_last_error().decode())


def time_steps(step, warmup, repetitions):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(repetitions):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def copy_bandwidth(gigabytes=4.0):
    n = int(gigabytes * 2**30) // 4
    src = torch.randn(n, device="cuda")
    dst = torch.empty_like(src)
    t = time_steps(lambda: dst.copy_(src), 3, 20)
    del src, dst
    torch.cuda.empty_cache()
    return 2 * n * 4 / (t["median_ms"] / 1e3) / 1e9


def split_sizes(total, tensors):
    """`tensors` sizes summing to `total`, uneven like a model's (odd sizes included)."""
    if tensors == 1:
        return [total]
    gen = torch.Generator().manual_seed(0)
    weights = torch.rand(tensors, generator=gen) + 0.05
    sizes = [max(1, int(w)) for w in (weights / weights.sum() * total)]
    sizes[-1] += total - sum(sizes)
    return sizes


def bytes_per_param(method, dtype_bytes, weight_decay, window=10, density=0.01, quant=64):
    """Bytes each step must move per parameter (each read once, each write once)."""
    if method == "adamw":  # torch keeps exp_avg and exp_avg_sq in the param's dtype
        return dtype_bytes + 2 * dtype_bytes + 2 * 2 * dtype_bytes  # grad; param read+write; m, v read+write
    window_bytes = window * density * 4 + density * 4  # read m rows of (u16 index, bf16 value); write one row
    error_bytes = 0.5 * 2 + 2 * 2 * 2 / quant  # codes read+write; lo/hi read+write
    params = 2 * dtype_bytes if weight_decay else 2 * dtype_bytes * min(1.0, window * density)
    return dtype_bytes + error_bytes + window_bytes + params


def run_microadam(lib, sizes, dtype, weight_decay, policy, warmup, repetitions):
    torch_dtype, code = DTYPES[dtype]
    params = [torch.randn(n, device="cuda", dtype=torch_dtype) for n in sizes]
    grads = [torch.randn(n, device="cuda", dtype=torch_dtype) * 1e-3 for n in sizes]
    free_before = torch.cuda.mem_get_info()[0]
    states = []
    for n in sizes:
        handle = ctypes.c_void_p()
        check(lib, lib.microadam_state_create(n, 10, 0.01, 4096, 64, torch.cuda.current_device(), ctypes.byref(handle)))
        states.append(handle)
    state_bytes = sum(lib.microadam_state_bytes(s) for s in states)
    device_bytes = free_before - torch.cuda.mem_get_info()[0]
    count = len(sizes)
    state_array = (ctypes.c_void_p * count)(*[s.value for s in states])
    param_array = (ctypes.c_void_p * count)(*[p.data_ptr() for p in params])
    grad_array = (ctypes.c_void_p * count)(*[g.data_ptr() for g in grads])
    dtype_array = (ctypes.c_uint8 * (2 * count))(*([code, code] * count))
    hyper_array = (ctypes.c_double * (6 * count))(*([1e-3, 0.9, 0.999, 1e-8, weight_decay, 0.0] * count))
    skipped = ctypes.c_int()
    stream = torch.cuda.current_stream().cuda_stream

    def step():
        check(lib, lib.microadam_step(state_array, param_array, grad_array, dtype_array, hyper_array, count, policy,
                                      stream, ctypes.byref(skipped)))

    timing = time_steps(step, warmup, repetitions)
    finite = all(bool(torch.isfinite(p).all()) for p in params)
    for s in states:
        lib.microadam_state_destroy(s)
    del params, grads
    torch.cuda.empty_cache()
    return dict(timing, state_bytes=state_bytes, device_bytes_allocated=device_bytes, params_finite=finite)


def run_adamw(sizes, dtype, weight_decay, warmup, repetitions):
    torch_dtype, _ = DTYPES[dtype]
    params = [torch.nn.Parameter(torch.randn(n, device="cuda", dtype=torch_dtype)) for n in sizes]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=weight_decay, fused=True)
    timing = time_steps(opt.step, warmup, repetitions)
    state_bytes = sum(t.numel() * t.element_size() for st in opt.state.values() for t in st.values()
                      if torch.is_tensor(t) and t.dim() > 0)
    del opt, params
    torch.cuda.empty_cache()
    return dict(timing, state_bytes=state_bytes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, help="path to libmicroadam_capi.so")
    parser.add_argument("--out", default="gpu-bench.json")
    parser.add_argument("--sizes", default="100M,1B")
    parser.add_argument("--dtypes", default="f32,bf16")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--methods", default="microadam,adamw", help="which to run (a profiler run wants one)")
    parser.add_argument("--many-tensors", type=int, default=256, help="tensors in the model-like 100M case (0: skip)")
    args = parser.parse_args()
    lib = load_library(args.lib)
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}
    sizes = [(s, int(float(s[:-1]) * scale[s[-1]])) for s in args.sizes.split(",")]

    props = torch.cuda.get_device_properties(0)
    result = {"device": props.name, "multiprocessors": props.multi_processor_count,
              "memory_bytes": props.total_memory, "torch": torch.__version__, "cuda": torch.version.cuda,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": []}
    methods = args.methods.split(",")
    result["copy_bandwidth_gbs"] = copy_bandwidth()
    print(f"{props.name}: device-to-device copy {result['copy_bandwidth_gbs']:.0f} GB/s (read + write)", flush=True)

    cases = []
    for label, n in sizes:
        for dtype in args.dtypes.split(","):
            cases.append((label, n, dtype, 1))
    if args.many_tensors:  # a model-like split: uneven tensors, one launch
        cases.append(("100M", 10**8, "f32", args.many_tensors))
    for label, n, dtype, tensors in cases:
        tensor_sizes = split_sizes(n, tensors)
        dtype_bytes = 4 if dtype == "f32" else 2
        for weight_decay in (0.0, 0.01):
            for name, policy in (("microadam", 2), ("microadam+scan", 0)):
                if "microadam" not in methods or (name == "microadam+scan" and (weight_decay or tensors > 1)):
                    continue
                r = run_microadam(lib, tensor_sizes, dtype, weight_decay, policy, args.warmup, args.repetitions)
                r.update(method=name, size=label, numel=n, dtype=dtype, tensors=tensors, weight_decay=weight_decay,
                         bytes_per_param=bytes_per_param("microadam", dtype_bytes, weight_decay))
                result["runs"].append(r)
                print(json.dumps(r), flush=True)
            if "adamw" not in methods:
                continue
            r = run_adamw(tensor_sizes, dtype, weight_decay, args.warmup, args.repetitions)
            r.update(method="torch.AdamW(fused)", size=label, numel=n, dtype=dtype, tensors=tensors,
                     weight_decay=weight_decay, bytes_per_param=bytes_per_param("adamw", dtype_bytes, weight_decay))
            result["runs"].append(r)
            print(json.dumps(r), flush=True)

    for r in result["runs"]:
        r["effective_gbs"] = r["numel"] * r["bytes_per_param"] / (r["median_ms"] / 1e3) / 1e9
        r["fraction_of_copy"] = r["effective_gbs"] / result["copy_bandwidth_gbs"]
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)

    print(f"\n{result['device']}, {result['date']}, torch {result['torch']}, copy {result['copy_bandwidth_gbs']:.0f} GB/s")
    print("| size | dtype | tensors | wd | method | ms/step (median) | min | state bytes/param | bytes moved/param | GB/s | of copy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in result["runs"]:
        print(f"| {r['size']} | {r['dtype']} | {r['tensors']} | {r['weight_decay']} | {r['method']} | "
              f"{r['median_ms']:.3f} | {r['min_ms']:.3f} | {r['state_bytes'] / r['numel']:.3f} | "
              f"{r['bytes_per_param']:.2f} | {r['effective_gbs']:.0f} | {r['fraction_of_copy']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
