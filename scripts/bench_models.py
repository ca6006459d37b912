#!/usr/bin/env python3
"""sega vs PyTorch, side by side in one run: forward time, forward + input-gradient time and
peak RSS of full-size models on the same input and thread count: four architectures with seeded
random weights and the six shipped Lite/ViT models with their shipped weights.

    /work/venv/bin/python scripts/bench_models.py [--reps N] [--models cnniqa,dbcnn,...] [--quick]
                                                  [--threads 2] [--rounds R] [--sega-bin PATH] [--base-bin PATH]
                                                  [--json OUT]

Models (full widths, seeded random weights from the PyTorch re-statements the parity fixtures
use; nothing is duplicated here):
  cnniqa    pyiqa's CNNIQA (50 kernels 7x7, fc 800-800-1)           image 384x512 (H x W)
  hyperiqa  HyperIQA's ResNet-50 at 224: weights/fixtures/hyperiqa.py HyperNetRe at full width,
            num_crop = 1 (written into the weights' metadata): one 224x224 image, one crop,
            i.e. one ResNet-50 + LDA/hyper/target heads pass on both sides
  dbcnn     weights/fixtures/dbcnn.py DBCNNRestated(div=1) (= pyiqa's DBCNN)  image 384x512
  lite0     weights/models_lite0.py Lite0Classifier (EfficientNet-Lite0, 1000 classes) 224x224

For each of these the weights are converted once (weights/convert.py write_safetensors, F32) to
/tmp/sega-bench-weights/<model>.safetensors.

Shipped weights (marked * in the table; goal <= 0.8x PyTorch, issue 25): hyperiqa_lite0,
linearityiqa_lite0, dbcnn_lite0, lite2iqa, vitiqa, vitiqa_patch. Both sides read the same file,
weights/NAME.safetensors (fp16, widened to F32 on load): sega-modelbench through ModelZoo.load,
PyTorch through weights/iqa_models.py load_file, the loader weights/evaluate.py and
scripts/bench_attack.py use. The image is the dataset's 288x384 (H x W), the size `sega attack`
plans its sources for on the dataset's images (one plan per source at the image's own size);
each model then takes the image by its own input protocol inside the graph, as in PyTorch's
forward (weights/*.md cards, `sega models`): hyperiqa_lite0 num_crop (4, from the metadata)
crops of 224x224; vitiqa resized to 256x256; vitiqa_patch resized to its patch grid, 18x24
patches of 16 = 288x384, i.e. no resize; the others the whole image.

For every row and each mode (forward, grad), PyTorch and sega-modelbench each run in their OWN
subprocess, so each peak RSS belongs to one engine and one mode. PyTorch: torch.set_num_threads(T) (and OMP/MKL_NUM_THREADS), parameters frozen
(requires_grad False: only the input gradient is wanted, as in an attack), forward under
torch.no_grad(); grad = forward + torch.autograd.grad of the score w.r.t. the input. Both sides
warm up, then time N repetitions with a monotonic clock; the table shows medians (and the ratio
of the best times). With --rounds R each pair runs R times, alternating engines, and each keeps
its fastest round: PyTorch's OpenMP threads slow down by up to 50x when another process competes
for the cores, so on a shared machine use --rounds 3 and read the load average printed. With
--base-bin (e.g. main's release sega-modelbench) that binary runs too in every round, right after
sega, and the table adds its time and sega/base: a change measured against main in the same run.
Input: x[i] = ((i * 2654435761) mod 2^32 >> 8) / 2^24 over NCHW, bit-identical
on both sides. The two scores must agree to rel 1e-3 (a sanity check that both ran the same
network); the input-gradient means are printed for information.

Peak RSS is the child's VmHWM (whole process). PyTorch's includes its import baseline
(libtorch, CUDA stubs, oneDNN...), reported separately as "torch base"; "torch dRSS" =
peak - base is what the model itself added.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WEIGHTS_DIR = os.path.join(ROOT, "weights")
FIXTURES_DIR = os.path.join(WEIGHTS_DIR, "fixtures")
OUT_DIR = "/tmp/sega-bench-weights"

# name -> (title, H, W, arch, extra metadata, goal: max time ratio sega/torch)
MODELS = {
    "cnniqa": ("CNNIQA", 384, 512, "cnniqa", {}, 0.5),
    "hyperiqa": ("HyperIQA R50 1crop", 224, 224, "hyperiqa", {"num_crop": 1}, 1.0),
    "dbcnn": ("DBCNN", 384, 512, "dbcnn", {}, 1.0),
    "lite0": ("Lite0", 224, 224, "lite0", {}, 0.5),
}
# The shipped weights: name -> the same fields, arch = name, metadata None (the file is used as
# shipped, not converted). Size: the dataset's images (weights/dataset/build.py --size).
SHIPPED = ["hyperiqa_lite0", "linearityiqa_lite0", "dbcnn_lite0", "lite2iqa", "vitiqa", "vitiqa_patch"]
DATASET_HW = (288, 384)
SHIPPED_GOAL = 0.8
MODELS.update({n: (n + "*", *DATASET_HW, n, None, SHIPPED_GOAL) for n in SHIPPED})
RSS_GOAL = 0.2


def _paths():
    for p in (WEIGHTS_DIR, FIXTURES_DIR):
        if p not in sys.path:
            sys.path.insert(0, p)


def shipped_path(name):
    return os.path.join(WEIGHTS_DIR, f"{name}.safetensors")


def build_model(name):
    """The full-size PyTorch model with its seeded random weights (deterministic: the same
    in the parent, which converts it, and in the child, which times it), or a shipped model
    loaded from its weights file as weights/evaluate.py loads it."""
    _paths()
    import common  # weights/fixtures/common.py
    if name in SHIPPED:
        import iqa_models
        model, _ = iqa_models.load_file(shipped_path(name), "bench_models")
    elif name == "cnniqa":
        from pyiqa.archs.cnniqa_arch import CNNIQA
        model = common.randomize_(CNNIQA(pretrained=None), seed=1)
    elif name == "hyperiqa":
        from hyperiqa import HyperNetRe  # full widths are its defaults
        model = common.randomize_(HyperNetRe(num_crop=1), seed=5)
    elif name == "dbcnn":
        from dbcnn import DBCNNRestated
        model = common.randomize_(DBCNNRestated(div=1), seed=13, scale=2 ** 0.5)
    elif name == "lite0":
        import models_lite0
        model = common.randomize_(models_lite0.Lite0Classifier(), seed=11)
    else:
        raise SystemExit(f"bench_models: unknown model '{name}' (known: {', '.join(MODELS)})")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def bench_input(h, w):
    import numpy as np
    import torch
    i = np.arange(3 * h * w, dtype=np.uint64)
    v = ((i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)) >> np.uint64(8)
    x = v.astype(np.float32) / np.float32(16777216.0)
    return torch.from_numpy(x.reshape(1, 3, h, w).copy())


def vm_hwm():
    with open("/proc/self/status") as f:
        m = re.search(r"VmHWM:\s+(\d+)\s*kB", f.read())
    if m:
        return int(m.group(1)) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# MARK: - PyTorch child

def torch_child(a):
    import torch
    torch.set_num_threads(a.threads)
    _paths()
    import common  # noqa: F401  (the imports the model needs, before the baseline is taken)
    if a.model in SHIPPED:
        import iqa_models  # noqa: F401
        import safetensors.torch  # noqa: F401
    elif a.model == "cnniqa":
        import pyiqa.archs.cnniqa_arch  # noqa: F401
    elif a.model == "hyperiqa":
        import hyperiqa  # noqa: F401
    elif a.model == "dbcnn":
        import dbcnn  # noqa: F401
    else:
        import models_lite0  # noqa: F401
    base = vm_hwm()
    _, h, w, arch, _, _ = MODELS[a.model]
    model = build_model(a.model)
    inp = bench_input(h, w)

    if a.mode == "forward":
        def once():
            with torch.no_grad():
                return model(inp).reshape(-1)[0], None
    else:
        def once():
            x = inp.clone().requires_grad_(True)
            s = model(x).reshape(-1).sum()
            (g,) = torch.autograd.grad(s, x)
            return s.detach(), g

    for _ in range(a.warmup):
        once()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        s, g = once()
        times.append((time.perf_counter() - t0) * 1000)
    srt = sorted(times)
    n = len(srt)
    med = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    out = {"tool": "torch", "arch": arch, "height": h, "width": w, "mode": a.mode, "threads": torch.get_num_threads(),
           "reps": a.reps, "warmup": a.warmup, "best_ms": srt[0], "median_ms": med, "times_ms": times,
           "score": float(s), "grad_abs_mean": float(g.abs().mean()) if g is not None else None,
           "peak_rss_bytes": vm_hwm(), "base_rss_bytes": base, "torch": torch.__version__}
    if a.model == "hyperiqa":
        out["num_crop"] = model.num_crop
    print(json.dumps(out))


# MARK: - Parent

def convert(name):
    _paths()
    from convert import extract_state_dict, write_safetensors
    _, _, _, arch, meta, _ = MODELS[name]
    model = build_model(name)
    if name in SHIPPED:  # timed as shipped: both sides read weights/NAME.safetensors
        return shipped_path(name), sum(t.numel() for t in model.state_dict().values())
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, f"{name}.safetensors")
    md = {"arch": arch, "source": "scripts/bench_models.py (seeded random weights)"}
    md.update(meta)
    write_safetensors(path, extract_state_dict(model.state_dict(), arch), md, "f32")
    nparams = sum(t.numel() for t in model.state_dict().values())
    return path, nparams


def ensure_sega_bin(path):
    if path:
        if not os.access(path, os.X_OK):
            raise SystemExit(f"bench_models: --sega-bin {path} is not an executable")
        return path
    # The benchmarks are a package of their own (Benchmarks/), outside the library build.
    path = os.path.join(ROOT, "Benchmarks", ".build", "release", "sega-modelbench")
    if not os.access(path, os.X_OK):
        print("bench_models: building sega-modelbench (release, Benchmarks/)...", file=sys.stderr, flush=True)
        subprocess.run(["swift", "build", "-c", "release", "--package-path", "Benchmarks", "--product", "sega-modelbench"],
                       cwd=ROOT, check=True)
    return path


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"bench_models: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise SystemExit(f"bench_models: no JSON from {' '.join(cmd)}:\n{r.stdout}\n{r.stderr}")
    return json.loads(lines[-1])


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions per run (default 10, --quick 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed repetitions first (default 2, --quick 1)")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--modes", default="forward,grad", help="comma list of forward, grad")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1,
                    help="run each torch/sega pair this many times, alternating, and keep each engine's round "
                         "with the lowest median (filters out interference from other processes; default 1)")
    ap.add_argument("--sega-bin", help="sega-modelbench executable (default: Benchmarks/.build/release, built if missing)")
    ap.add_argument("--base-bin", help="a second sega-modelbench (e.g. main's) timed in the same rounds; adds sega/base")
    ap.add_argument("--json", help="also write every child's JSON result to this file")
    # internal: the PyTorch child
    ap.add_argument("--child", choices=["torch"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.reps = a.reps or (3 if a.quick else 10)
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 2)
    if a.child == "torch":
        return torch_child(a)

    models = [m.strip() for m in a.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"bench_models: unknown model '{m}' (known: {', '.join(MODELS)})")
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("forward", "grad"):
            raise SystemExit(f"bench_models: unknown mode '{m}'")
    sega = ensure_sega_bin(a.sega_bin)
    base = ensure_sega_bin(a.base_bin) if a.base_bin else None
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))

    if a.rounds < 1:
        raise SystemExit("bench_models: --rounds must be >= 1")
    print(f"bench_models: {a.threads} threads, {a.reps} reps after {a.warmup} warm-up, {a.rounds} round(s), "
          f"load average {loadavg()} at start", flush=True)
    rows, results = [], []
    for name in models:
        title, h, w, _, _, goal = MODELS[name]
        path, nparams = convert(name)
        kind = " (shipped, fp16 -> F32 on both sides)" if name in SHIPPED else ""
        print(f"  {name}: {nparams / 1e6:.2f}M weights -> {path}{kind}", flush=True)
        for mode in modes:
            t = s = b = None
            for _ in range(a.rounds):   # alternate the engines; keep each one's fastest round
                tr = run_json([sys.executable, os.path.abspath(__file__), "--child", "torch", "--model", name,
                               "--mode", mode, "--reps", str(a.reps), "--warmup", str(a.warmup),
                               "--threads", str(a.threads)], env)
                sr = run_json([sega, "--weights", path, "--height", str(h), "--width", str(w),
                               "--threads", str(a.threads), "--reps", str(a.reps), "--warmup", str(a.warmup),
                               "--mode", mode])
                if t is None or tr["median_ms"] < t["median_ms"]:
                    t = tr
                if s is None or sr["median_ms"] < s["median_ms"]:
                    s = sr
                if base:
                    br = run_json([base, "--weights", path, "--height", str(h), "--width", str(w),
                                   "--threads", str(a.threads), "--reps", str(a.reps), "--warmup", str(a.warmup),
                                   "--mode", mode])
                    if b is None or br["median_ms"] < b["median_ms"]:
                        b = br
            d = abs(t["score"] - s["score"])
            ok = d <= 1e-3 * max(abs(t["score"]), abs(s["score"])) + 1e-6
            if not ok:
                print(f"  WARNING {name} {mode}: scores differ: torch {t['score']:.7g} sega {s['score']:.7g}", flush=True)
            gnote = ""
            if mode == "grad" and t.get("grad_abs_mean") and s.get("grad_abs_mean"):
                gnote = f", mean|grad| torch {t['grad_abs_mean']:.4e} sega {s['grad_abs_mean']:.4e}"
            print(f"  {name} {mode}: score torch {t['score']:.7g} sega {s['score']:.7g} "
                  f"({'agree' if ok else 'DIFFER'}, rel {d / max(abs(t['score']), 1e-30):.1e}{gnote}); "
                  f"torch {t['median_ms']:.1f} ms, sega {s['median_ms']:.1f} ms"
                  + (f", base {b['median_ms']:.1f} ms (score {b['score']:.9g} vs {s['score']:.9g})" if b else ""), flush=True)
            results.append({"model": name, "mode": mode, "torch": t, "sega": s, "scores_agree": ok, **({"base": b} if b else {})})
            rows.append((name, title, h, w, mode, t, s, ok, goal, b))

    mb = 1024 * 1024
    hdr = (f"{'model':<19} {'size':>7} {'mode':<7} {'torch ms':>9} {'sega ms':>9} {'sega/torch':>10} {'(best)':>6} "
           f"{'torch MB':>8} {'sega MB':>8} {'sega/torch':>10} {'torch base':>10} {'torch dRSS':>10}"
           + (f" {'base ms':>8} {'base/torch':>10} {'sega/base':>9}" if base else "") + "  goals")
    print()
    print(f"sega vs PyTorch {rows[0][5].get('torch', '') if rows else ''}, {a.threads} threads, median of {a.reps} "
          f"(after {a.warmup} warm-up, best of {a.rounds} alternating round(s)); peak RSS = VmHWM of each engine's own process per mode; "
          f"load average {loadavg()} at end")
    print(hdr)
    print("-" * len(hdr))
    for name, title, h, w, mode, t, s, ok, goal, b in rows:
        r = s["median_ms"] / t["median_ms"]
        rb = s["best_ms"] / t["best_ms"]
        rr = s["peak_rss_bytes"] / t["peak_rss_bytes"]
        goals = ("time ok" if r <= goal else f"time >{goal:g}x") + ", " + ("rss ok" if rr <= RSS_GOAL else "rss >1/5")
        if not ok:
            goals += ", SCORE DIFFERS"
        print(f"{title:<19} {f'{h}x{w}':>7} {mode:<7} {t['median_ms']:9.1f} {s['median_ms']:9.1f} {r:10.2f} {rb:6.2f} "
              f"{t['peak_rss_bytes'] / mb:8.0f} {s['peak_rss_bytes'] / mb:8.0f} {rr:10.3f} "
              f"{t['base_rss_bytes'] / mb:10.0f} {(t['peak_rss_bytes'] - t['base_rss_bytes']) / mb:10.0f}"
              + (f" {b['median_ms']:8.1f} {b['median_ms'] / t['median_ms']:10.2f} {s['median_ms'] / b['median_ms']:9.3f}" if b else "")
              + f"  {goals}")
    print(f"goals: sega/torch time <= 1.0 (<= 0.5 for CNNIQA and Lite0, <= {SHIPPED_GOAL:g} for the shipped rows), "
          f"peak RSS <= {RSS_GOAL:g} x PyTorch's. HyperIQA R50 runs num_crop = 1 (one 224 crop, one ResNet-50 pass) on both sides.")
    if any(r[0] in SHIPPED for r in rows):
        print(f"* shipped weights (weights/NAME.safetensors, fp16 read as F32 by both), seeded random weights otherwise; "
              f"the shipped rows run on the dataset's {DATASET_HW[0]}x{DATASET_HW[1]} image as `sega attack` plans them, "
              f"each model resizing or cropping inside by its input protocol.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "reps": a.reps, "rounds": a.rounds, "warmup": a.warmup, "results": results}, f, indent=1)
    if not all(r[7] for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
