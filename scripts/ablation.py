#!/usr/bin/env python3
"""SEGA ablation: sweep sigma, N, K and the masks one at a time around the defaults.

    python3 scripts/ablation.py --images DATA/manifest.csv [--sources a,b,c] [--targets d,e]
                                [--split test] [--stride 30] [--out ablation/] [--sega .build/release/sega]

Sources and targets default to `sega eval`'s (read from `sega settings --json`).

Each variant is one `sega eval --methods sega` run on the same images (its own report directory,
so reruns resume); the table (ablation/ablation.md) lists, per variant, each target's
SROCC(clean, attacked), the mean over targets, mean SSIM and gradient calls per image. Lower
SROCC at SSIM >= 0.85 is better; the defaults in AttackConfig.swift were picked from this table.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def variants(sources):
    k = sources.split(",")
    v = [("default", [])]
    v += [(f"sigma {s}", ["--sigma", s]) for s in ("0", "0.01", "0.02", "0.1")]
    v += [(f"N {n}", ["--samples", n]) for n in ("1", "4", "8", "16")]
    v += [("antithetic", ["--antithetic"])]
    v += [(f"K {i} ({','.join(k[:i])})", ["--sources", ",".join(k[:i])]) for i in range(1, len(k))]
    v += [(f"M^F quantile {q}", ["--mask-quantile", q]) for q in ("0.3", "0.6")]
    v += [(f"M^F agreement {q}", ["--mask-agreement", q]) for q in ("0.67", "1")]
    v += [(f"M^JND threshold {t}", ["--jnd-threshold", t]) for t in ("4", "8")]
    v += [("no source normalisation", ["--no-normalize"])]
    return v


def defaults(sega):
    """sega's default source and target lists (AttackSettings.defaultSources/defaultTargets)."""
    table = json.loads(subprocess.run([sega, "settings", "--json"], check=True, capture_output=True, text=True).stdout)
    return ",".join(table["default_sources"]), ",".join(table["default_targets"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--sources", help="comma-separated (default: sega's default sources)")
    ap.add_argument("--targets", help="comma-separated (default: sega's default targets)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--stride", default="30")
    ap.add_argument("--out", default="ablation")
    ap.add_argument("--sega", default=os.path.join(ROOT, ".build/release/sega"))
    ap.add_argument("--extra", default="", help="extra flags for every run, e.g. '--iters 5'")
    ap.add_argument("--only", default="", help="comma-separated variant labels to run (default: all), e.g. 'default,N 1'")
    a = ap.parse_args()
    if a.sources is None or a.targets is None:
        sources, targets = defaults(a.sega)
        a.sources = a.sources or sources
        a.targets = a.targets or targets
    rows = []
    chosen = variants(a.sources)
    if a.only:
        keep = [x.strip() for x in a.only.split(",")]
        chosen = [(label, flags) for label, flags in chosen if any(label == k or label.startswith(k + " (") for k in keep)]
    for label, flags in chosen:
        slug = "".join(c if c.isalnum() else "_" for c in label)
        out = os.path.join(a.out, slug)
        cmd = [a.sega, "eval", "--sources", a.sources, "--targets", a.targets, "--images", a.images,
               "--split", a.split, "--stride", a.stride, "--methods", "sega", "--sheets", "0", "-o", out]
        cmd += a.extra.split() + flags  # later --sources wins
        print("ablation:", label, file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
        with open(os.path.join(out, "report.json")) as f:
            rep = json.load(f)
        row = rep["rows"][0]
        sroccs = [t["srocc"] for t in row["targets"]]
        deltas = [t["mean_abs_delta"] for t in row["targets"]]
        rows.append((label, sroccs, sum(sroccs) / len(sroccs), deltas, row["mean_ssim"], row["gradient_calls"]))
    targets = a.targets.split(",")
    lines = ["# SEGA ablation", "", f"Sources {a.sources}; targets {a.targets}; images: {a.images} split {a.split}, "
             f"every {a.stride}th; extra flags '{a.extra}'.", "",
             "| variant | " + " | ".join(f"{t} SROCC" for t in targets) + " | mean SROCC | "
             + " | ".join(f"{t} mean abs delta" for t in targets) + " | mean SSIM | grad calls |",
             "|---|" + "---|" * (2 * len(targets) + 3)]
    for label, s, m, d, ssim, calls in rows:
        lines.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in s) + f" | {m:.4f} | "
                     + " | ".join(f"{v:.2f}" for v in d) + f" | {ssim:.4f} | {calls:.0f} |")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "ablation.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
