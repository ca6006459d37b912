#!/usr/bin/env python3
"""The SEGA attack in sega against the same attack written in PyTorch, side by side in one run.

    /work/.venv-torch/bin/python scripts/bench_attack.py [--images A.png,B.png,C.png] [--threads 2]
        [--rounds 2] [--forms loop,batch,sega] [--iters T] [--samples N] [--sega-bin PATH]
        [--baseline-sega PATH] [--breakdown] [--json OUT]

What a user would pick instead of `sega attack` is the same attack in PyTorch over the same
models. This script runs, on the same images, settings and thread count:

  loop   PyTorch, one noise sample per forward/backward (a plain loop over the N samples of a
         source; the N noise tensors of an iteration are drawn once and serve every source)
  batch  PyTorch, the N samples of a source as one batch (one forward/backward per source and
         iteration)
  sega   `sega attack --method sega` (the binary's per-image "seconds": the attack of one image,
         scoring before and after included; the first image's includes planning)

The PyTorch forms load the shipped source models (weights/NAME.safetensors, fp16 -> fp32) into
their PyTorch definitions through weights/iqa_models.py exactly as weights/evaluate.py does
(eval mode; parameters frozen: only the input gradient is computed, as in the attack), and
implement Algorithm SEGA as sega does at its defaults (read from `sega settings --json`): T
iterations of x <- clip(Proj_eps(x + alpha d sign(g))), g = (1/K) sum_k w_k (1/N) sum_n
grad f_k(x + sigma u_n), w_k = 1 / mean|g_k| (normalised sources), d from the sources' mean
centred clean score (auto), M^F's magnitude rule (|g| below its q-quantile zeroed, q from the
defaults), the result rounded to the 8-bit grid within eps, with the uniform
budget (sega runs with --budget uniform too: its default JND budget adds one JND map per image and
no work per iteration) and no spending up to a target SSIM (sega runs with --target-ssim 0). Model loading is outside the timing on both sides.

Each form runs in its own process per round, so its peak RSS (ru_maxrss from wait4) is its own;
rounds alternate the forms and each keeps its fastest round (the machine is shared). Printed:
s/image, sega's time over the faster PyTorch form's, the achieved GFLOP/s (conv/linear/matmul/
attention FLOPs of one forward + input gradient per source, counted by PyTorch's FlopCounterMode,
times N T per image plus the scoring forwards) against the FMA peak measured in the same run
(`sega-bench --peak`: threads x the best single-core FMA peak), and peak RSS.
--baseline-sega PATH adds a fourth side, another sega binary (e.g. the build before a change),
alternated like the others: the before/after ratio of one run.
--breakdown adds, per source, `sega-modelbench --profile-plan` (each op timed in the model's own
plan, with the cores it kept busy) for one gradient call at the image size.
"""
import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WEIGHTS = os.path.join(ROOT, "weights")
GOAL_TIME, GOAL_RSS = 0.5, 0.25


# MARK: - settings

def sega_settings(sega):
    """The attack defaults from `sega settings --json` (the single source of truth)."""
    r = subprocess.run([sega, "settings", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench_attack: {sega} settings --json failed:\n{r.stderr}")
    d = json.loads(r.stdout)
    s = {x["id"]: x["default"] for x in d["settings"]}

    def frac(v):
        if "/" in v:
            a, b = v.split("/")
            return float(a) / float(b)
        return float(v)
    eps = frac(s["eps"])
    if s["alpha"] != "eps/4":
        raise SystemExit(f"bench_attack: unexpected alpha default {s['alpha']}")
    off = {"maskAgreement": "0.0", "jndThreshold": "0.0", "antithetic": "false",
           "segaMomentum": "0.0", "direction": "auto", "normalizeSources": "true", "method": "sega"}
    for k, v in off.items():
        if s.get(k) != v:
            raise SystemExit(f"bench_attack: the PyTorch SEGA implements {k} = {v} only; sega's default is {s.get(k)}")
    return {"eps": eps, "alpha": eps / 4, "iters": int(s["iterations"]), "samples": int(s["samples"]),
            "mask_quantile": float(s["maskQuantile"]),
            "sigma": float(s["sigma"]), "seed": int(s["seed"]), "sources": d["default_sources"]}


# MARK: - PyTorch side

def torch_setup(threads):
    import torch
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    sys.path.insert(0, WEIGHTS)
    import iqa_models as R
    return torch, R


def load_sources(R, names):
    models = []
    for n in names:
        m, _ = R.load_file(os.path.join(WEIGHTS, f"{n}.safetensors"), "bench_attack")
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
        models.append(m)
    return models


def read_image(torch, path):
    import numpy as np
    from PIL import Image
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()


def source_gradient(torch, m, x, noise, sigma, batched):
    """sum_n grad f(x + sigma u_n) for the N noise tensors in `noise` [N, 3, H, W]."""
    if batched:
        xs = (x + sigma * noise).requires_grad_(True)
        (g,) = torch.autograd.grad(m(xs).sum(), xs)
        return g.sum(dim=0, keepdim=True)
    gk = torch.zeros_like(x)
    for n in range(noise.shape[0]):
        xi = (x + sigma * noise[n:n + 1]).requires_grad_(True)
        (g,) = torch.autograd.grad(m(xi).sum(), xi)
        gk += g
    return gk


def torch_attack(torch, models, x0, cfg, key, batched):
    """SEGA on one image [1, 3, H, W] in [0, 1]; returns the attacked image (8-bit grid)."""
    eps, alpha, sigma, n_s = cfg["eps"], cfg["alpha"], cfg["sigma"], cfg["samples"]
    k = len(models)
    with torch.no_grad():
        before = [float(m(x0).reshape(-1)[0]) for m in models]
    centred = sum((s - 50.0) / 100.0 for s in before)   # the sources' score range is 0..100
    d = -1.0 if centred > 0 else 1.0
    gen = torch.Generator().manual_seed(cfg["seed"] * 1000003 + key)
    x = x0.clone()
    for _ in range(cfg["iters"]):
        noise = torch.randn((n_s,) + tuple(x0.shape[1:]), generator=gen)
        g = torch.zeros_like(x)
        for m in models:
            gk = source_gradient(torch, m, x, noise, sigma, batched)
            w = 1.0 / (n_s * k)
            mean_abs = float(gk.abs().mean()) / n_s
            w = w / mean_abs if mean_abs > 0 else 0.0
            g += w * gk
        with torch.no_grad():
            q = cfg["mask_quantile"]
            if q > 0:  # M^F, magnitude rule: keep |g| at or above its q-quantile (sega's quickselect rank)
                a = g.abs().reshape(-1)
                kth = min(a.numel() - 1, int(q * a.numel()))
                g = torch.where(g.abs() >= torch.kthvalue(a, kth + 1).values, g, torch.zeros_like(g))
            x = x + alpha * d * torch.sign(g)
            x = torch.clamp(torch.minimum(torch.maximum(x, x0 - eps), x0 + eps), 0, 1)
    m8 = float(int(eps * 255 + 1e-6))
    k0 = torch.round(x0 * 255)
    q = torch.clamp(torch.round(x * 255), min=0, max=255)
    q = torch.minimum(torch.maximum(q, k0 - m8), k0 + m8).clamp(0, 255) / 255
    with torch.no_grad():
        after = [float(m(q).reshape(-1)[0]) for m in models]
    return before, after


def torch_child(a):
    torch, R = torch_setup(a.threads)
    cfg = json.loads(a.cfg)
    models = load_sources(R, cfg["sources"])
    images = [read_image(torch, p) for p in a.images.split(",")]
    # Warm-up (untimed): one gradient call per source at the batch size the form uses, so that
    # PyTorch's one-time set-up (oneDNN primitives, allocator caches) is outside the timing.
    noise = torch.zeros((cfg["samples"],) + tuple(images[0].shape[1:]))
    for m in models:
        source_gradient(torch, m, images[0], noise if a.form == "batch" else noise[:1], cfg["sigma"], a.form == "batch")
    secs, scores = [], []
    for i, x0 in enumerate(images):
        t0 = time.perf_counter()
        before, after = torch_attack(torch, models, x0, cfg, i, a.form == "batch")
        secs.append(time.perf_counter() - t0)
        scores.append({"before": before, "after": after})
    print(json.dumps({"form": a.form, "seconds": secs, "scores": scores, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


def flops_child(a):
    """FLOPs (FlopCounterMode: conv, linear, matmul, attention) of one forward and of one
    forward + input gradient per source at H x W."""
    torch, R = torch_setup(1)
    from torch.utils.flop_counter import FlopCounterMode
    cfg = json.loads(a.cfg)
    out = {}
    for name, m in zip(cfg["sources"], load_sources(R, cfg["sources"])):
        x = torch.rand(1, 3, a.height, a.width)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            m(x)
        fwd = fc.get_total_flops()
        xg = x.clone().requires_grad_(True)
        with FlopCounterMode(display=False) as fc:
            m(xg).sum().backward()   # parameters are frozen: the input gradient only
        out[name] = {"forward": fwd, "grad": fc.get_total_flops()}
    print(json.dumps(out))


# MARK: - parent

def run_child(cmd, env=None):
    """Run a child; returns (stdout, peak RSS bytes from wait4)."""
    with tempfile.TemporaryFile(mode="w+") as err, tempfile.TemporaryFile(mode="w+") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise SystemExit(f"bench_attack: {' '.join(cmd[:6])} ... failed ({p.returncode}):\n{err.read()[-4000:]}")
        return out.read(), ru.ru_maxrss * 1024


def json_lines(text):
    return [json.loads(l) for l in text.splitlines() if l.startswith("{")]


def built(path, product, package=None):
    if os.access(path, os.X_OK):
        return path
    print(f"bench_attack: building {product} (release)...", file=sys.stderr, flush=True)
    cmd = ["swift", "build", "-c", "release", "--product", product]
    if package:
        cmd += ["--package-path", package]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return path


def run_sega(binary, images, cfg, a, env):
    with tempfile.TemporaryDirectory(prefix="bench-attack-") as d:
        cmd = [binary, "attack", "--method", "sega", "--threads", str(a.threads), "-o", d,
               "--sources", ",".join(cfg["sources"]), "--iters", str(cfg["iters"]), "--samples", str(cfg["samples"]),
               # The PyTorch SEGA has the uniform budget only; sega's default JND budget costs one
               # JND map per image (about 0.1 s, docs/methods.md) and nothing per iteration, so both
               # sides run the uniform one to compare the same work.
               "--budget", "uniform"]
        # Nor does it spend the budget up to a target SSIM (sega's default since 2026-12-07: about
        # 18 SSIM evaluations per image after the last iteration, no gradient call): turned off
        # where the binary has the flag, so both sides do the same work.
        if "--target-ssim" in subprocess.run([binary, "attack", "--help"], capture_output=True, text=True).stdout:
            cmd += ["--target-ssim", "0"]
        out, rss = run_child(cmd + images, env)
    rows = json_lines(out)
    if len(rows) != len(images):
        raise SystemExit(f"bench_attack: sega wrote {len(rows)} result lines for {len(images)} images")
    return {"seconds": [r["seconds"] for r in rows], "rss": rss}


def peak(a):
    bench = built(os.path.join(ROOT, "Benchmarks", ".build", "release", "sega-bench"), "sega-bench", "Benchmarks")
    out, _ = run_child([bench, "--peak", "--seconds", "1"])
    return json_lines(out)[-1]


def breakdown(a, cfg, h, w):
    mb = built(os.path.join(ROOT, "Benchmarks", ".build", "release", "sega-modelbench"), "sega-modelbench", "Benchmarks")
    for name in cfg["sources"]:
        out, _ = run_child([mb, "--weights", os.path.join(WEIGHTS, f"{name}.safetensors"), "--height", str(h),
                            "--width", str(w), "--threads", str(a.threads), "--reps", "10", "--mode", "grad",
                            "--profile-plan", "--top", "12"])
        print(out)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", help="comma list (default: the first 3 of weights/samples, 288x384 test-split images)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--forms", default="loop,batch,sega", help="comma list of loop, batch, sega")
    ap.add_argument("--iters", type=int, help="override T (the table is then not at the defaults)")
    ap.add_argument("--samples", type=int, help="override N (the table is then not at the defaults)")
    ap.add_argument("--sega-bin", default=os.path.join(ROOT, ".build", "release", "sega"))
    ap.add_argument("--baseline-sega", help="another sega binary, alternated as a fourth side")
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--child", choices=["torch", "flops"], help=argparse.SUPPRESS)
    ap.add_argument("--form", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    ap.add_argument("--height", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--width", type=int, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def measure(a, forms, images, cfg, env):
    """Alternate the forms over the rounds; each keeps its fastest round (mean s/image)."""
    best = {}
    me = [sys.executable, os.path.abspath(__file__), "--threads", str(a.threads), "--cfg", json.dumps(cfg)]
    for r in range(a.rounds):
        for form in forms:
            if form in ("loop", "batch"):
                out, rss = run_child(me + ["--child", "torch", "--form", form, "--images", ",".join(images)], env)
                res = dict(json_lines(out)[-1], rss=rss)
            else:
                res = run_sega(a.sega_bin if form == "sega" else a.baseline_sega, images, cfg, a, env)
            res["per_image"] = sum(res["seconds"]) / len(res["seconds"])
            print(f"  round {r + 1} {form:<9} {res['per_image']:8.2f} s/image  peak RSS {res['rss'] / 2**20:7.0f} MB  "
                  f"(per image: {', '.join(f'{s:.2f}' for s in res['seconds'])})", flush=True)
            if form not in best or res["per_image"] < best[form]["per_image"]:
                best[form] = res
    return best


def report(a, forms, best, flops_img, peak_g, cfg, images):
    labels = {"loop": "PyTorch, one sample per forward/backward", "batch": "PyTorch, N samples of a source as a batch",
              "sega": "sega attack --method sega", "baseline": "sega (baseline binary)"}
    torch_forms = [f for f in ("loop", "batch") if f in best]
    fastest = min((best[f]["per_image"] for f in torch_forms), default=None)
    rss_ref = min((best[f]["rss"] for f in torch_forms), default=None)
    print(f"\nSEGA, {len(images)} images {cfg['H']}x{cfg['W']}, sources {', '.join(cfg['sources'])}, T {cfg['iters']}, "
          f"N {cfg['samples']}, sigma {cfg['sigma']}, {a.threads} threads; best of {a.rounds} alternating round(s); "
          f"FMA peak {peak_g:.1f} GFLOP/s ({a.threads} x {peak_g / a.threads:.1f}, measured in this run)")
    hdr = f"{'implementation':<44} {'s/image':>8} {'vs torch':>9} {'GFLOP/s':>8} {'%peak':>6} {'peak RSS MB':>12} {'RSS vs torch':>12}"
    print(hdr)
    print("-" * len(hdr))
    for f in forms:
        b = best[f]
        gf = flops_img / b["per_image"] / 1e9
        ratio = f"{b['per_image'] / fastest:.2f}x" if fastest else "-"
        rr = f"{b['rss'] / rss_ref:.3f}" if rss_ref and f not in torch_forms else "-"
        print(f"{labels[f]:<44} {b['per_image']:8.2f} {ratio:>9} {gf:8.1f} {100 * gf / peak_g:5.1f}% "
              f"{b['rss'] / 2**20:12.0f} {rr:>12}")
    if "sega" in best and fastest:
        t = best["sega"]["per_image"] / fastest
        r = best["sega"]["rss"] / rss_ref
        print(f"goals: sega <= {GOAL_TIME}x the faster PyTorch form: {t:.2f}x ({'met' if t <= GOAL_TIME else 'not met'}); "
              f"peak RSS <= {GOAL_RSS} x PyTorch's (its smaller form): {r:.3f} ({'met' if r <= GOAL_RSS else 'not met'})")
    print(f"FLOPs per image: {flops_img / 1e9:.0f} G (T N x one forward + input gradient per source, plus the scoring "
          f"forwards; PyTorch FlopCounterMode: conv, linear, matmul, attention)")


def main(argv=None):
    a = parse_args(argv)
    if a.child == "torch":
        return torch_child(a)
    if a.child == "flops":
        return flops_child(a)
    forms = [f.strip() for f in a.forms.split(",") if f.strip()]
    for f in forms:
        if f not in ("loop", "batch", "sega"):
            raise SystemExit(f"bench_attack: unknown form {f}")
    if a.baseline_sega:
        forms.append("baseline")
    a.sega_bin = built(a.sega_bin, "sega")
    images = a.images.split(",") if a.images else sorted(glob.glob(os.path.join(WEIGHTS, "samples", "*.png")))[:3]
    from PIL import Image
    sizes = {Image.open(p).size for p in images}
    if len(sizes) != 1:
        raise SystemExit(f"bench_attack: the images must share one size, got {sorted(sizes)}")
    (w, h), = sizes
    cfg = sega_settings(a.sega_bin)
    if a.iters:
        cfg["iters"] = a.iters
    if a.samples:
        cfg["samples"] = a.samples
    cfg["H"], cfg["W"] = h, w
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    print(f"bench_attack: {len(images)} images, {a.threads} threads, {a.rounds} round(s), load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}", flush=True)
    fl, _ = run_child([sys.executable, os.path.abspath(__file__), "--child", "flops", "--cfg", json.dumps(cfg),
                       "--height", str(h), "--width", str(w)], env)
    fl = json_lines(fl)[-1]
    flops_img = sum(cfg["iters"] * cfg["samples"] * v["grad"] + 2 * v["forward"] for v in fl.values())
    for k, v in fl.items():
        print(f"  {k}: forward {v['forward'] / 1e9:.2f} GFLOP, forward + input gradient {v['grad'] / 1e9:.2f} GFLOP")
    p0 = peak(a)
    best = measure(a, forms, images, cfg, env)
    p1 = peak(a)
    peak_g = a.threads * max(p0["best_gflops"], p1["best_gflops"])
    report(a, forms, best, flops_img, peak_g, cfg, images)
    print(f"load average at end {' '.join(open('/proc/loadavg').read().split()[:3])}")
    if a.breakdown:
        breakdown(a, cfg, h, w)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cfg": cfg, "flops": fl, "flops_per_image": flops_img, "peak": [p0, p1], "best": best}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
