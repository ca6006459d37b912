#!/usr/bin/env python3
"""Instruction counts of one planned forward + input-gradient call per model, under callgrind: a
measure of the engine's work that does not move with the load of a shared machine, and a guard
against changes that add work.

    python3 scripts/bench_instructions.py [--set fixtures|sources|all] [--models a,b] [--check | --update]
                                          [--tolerance 0.03] [--file Benchmarks/instructions.tsv] [--breakdown]

For each model, `sega-modelbench --one-call` (release build of Benchmarks/, debug info stripped
into a temporary copy: valgrind 3.19 cannot read Swift 6's DWARF) plans the model and runs one
forward + backward to the input inside measuredCall(); `valgrind --tool=callgrind
--toggle-collect='*measuredCall*'` counts the instructions of that call only (loading and
planning are not counted). One engine thread (no pool, so no spin-waiting: the count repeats
exactly) and SEGA_ISA=avx2 (valgrind runs no AVX-512; the engine would pick AVX2 under it anyway).

Sets:
  fixtures  the committed parity fixtures (Tests/Fixtures, reduced widths) at their fixture image
            sizes: every architecture's graph, ops and kernels at small shapes (seconds each).
            This is what scripts/test.sh checks.
  sources   the shipped source models (weights/) at 288x384, the attack's real shapes (minutes).

--check compares with the committed file (Benchmarks/instructions.tsv): a model whose count grew by
more than --tolerance (default 3%) fails, as does a model missing from the file; counts that fell
by more than the tolerance are reported (update the file to lock the gain in). --update rewrites
the rows of the models run. --breakdown prints, per model, the share of the count by kernel
family (GEMM micro-kernel, packing, im2col, depthwise, elementwise, memset/memcpy, Swift ops).
Exit status 1 when a check fails. The last line is "instructions: ok" or "instructions: FAILED ...".
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_FILE = os.path.join(ROOT, "Benchmarks", "instructions.tsv")
FIX = os.path.join(ROOT, "Tests", "Fixtures")
W = os.path.join(ROOT, "weights")

# name -> (weights file, height, width). Fixture sizes are those of the parity fixtures
# (weights/iqa_models.py Fixture sizes), so the graphs match what the parity tests check.
SETS = {
    "fixtures": {
        "fx_linearityiqa_lite0": (os.path.join(FIX, "linearityiqa_lite0.safetensors"), 72, 88),
        "fx_hyperiqa_lite0": (os.path.join(FIX, "hyperiqa_lite0.safetensors"), 60, 90),
        "fx_vitiqa": (os.path.join(FIX, "vitiqa.safetensors"), 70, 90),
        "fx_dbcnn_lite0": (os.path.join(FIX, "dbcnn_lite0.safetensors"), 72, 88),
        "fx_lite0": (os.path.join(FIX, "lite0.safetensors"), 75, 90),
        "fx_lite2iqa": (os.path.join(FIX, "lite2iqa.safetensors"), 70, 90),
        "fx_vitiqa_patch": (os.path.join(FIX, "vitiqa_patch.safetensors"), 40, 60),
        "fx_cnniqa": (os.path.join(FIX, "cnniqa.safetensors"), 48, 64),
    },
    "sources": {
        "linearityiqa_lite0": (os.path.join(W, "linearityiqa_lite0.safetensors"), 288, 384),
        "hyperiqa_lite0": (os.path.join(W, "hyperiqa_lite0.safetensors"), 288, 384),
        "vitiqa": (os.path.join(W, "vitiqa.safetensors"), 288, 384),
    },
}

FAMILIES = [  # (family, regex on the function name), first match wins
    ("gemm kernel", r"^sega_sgemm_\d+x\d+_"),
    ("gemm packing", r"^sega_pack_[ab]_"),
    ("gemm driver", r"^(macro_kernel|gemm_|pf_|sega_sgemm$|part_range|scale_c)"),
    ("im2col/col2im", r"(im2col|col2im)"),
    ("depthwise", r"^(sega_dwconv|dw_|dwg_|fwd_block|bwd_block|bwd_|fwd_channel)"),
    ("elementwise", r"^sega_(relu|mask|add_inplace|axpy|sigmoid|gelu|softmax|layernorm|channel_affine|bilinear|mul|bias|act)"),
    ("memset/memcpy", r"^__mem(set|cpy|move)"),
    ("swift ops", r"^\$s10SegaEngine"),
    ("pool/threads", r"^sega_pool"),
]


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def modelbench(rebuild):
    path = os.path.join(ROOT, "Benchmarks", ".build", "release", "sega-modelbench")
    if rebuild or not os.access(path, os.X_OK):
        print("bench_instructions: building Benchmarks (release)...", file=sys.stderr, flush=True)
        r = subprocess.run(["swift", "build", "-c", "release", "--package-path", "Benchmarks", "--product",
                            "sega-modelbench"], cwd=ROOT)
        if r.returncode != 0:
            raise SystemExit("bench_instructions: building sega-modelbench failed")
    return path


def count(binary, weights, h, w, tmp):
    out = os.path.join(tmp, "cg.out")
    env = dict(os.environ, SEGA_ISA="avx2")
    r = sh(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--toggle-collect=*measuredCall*",
            binary, "--weights", weights, "--height", str(h), "--width", str(w), "--threads", "1", "--one-call"],
           env=env)
    if r.returncode != 0 or not os.path.exists(out):
        raise SystemExit(f"bench_instructions: callgrind failed on {weights} ({r.returncode}):\n{r.stderr[-3000:]}")
    a = sh(["callgrind_annotate", "--threshold=100", out])
    total, funcs = None, []
    for line in a.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(\([^)]*\)\s+)?(PROGRAM TOTALS|\S+?:(.*?)(\s+\[.*\])?)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if m.group(3) == "PROGRAM TOTALS":
            total = n
        else:
            funcs.append((m.group(4) or m.group(3), n))
    if total is None:
        raise SystemExit(f"bench_instructions: no totals in callgrind_annotate output for {weights}")
    os.remove(out)
    return total, funcs


def families(funcs):
    agg = {}
    for name, n in funcs:
        fam = next((f for f, rx in FAMILIES if re.search(rx, name)), "other")
        agg[fam] = agg.get(fam, 0) + n
    return agg


def read_file(path):
    rows = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                p = line.rstrip("\n").split("\t")
                if len(p) >= 5 and p[0] != "model":
                    rows[p[0]] = (int(p[1]), int(p[2]), p[3], int(p[4]))
    return rows


def write_file(path, rows):
    with open(path, "w") as f:
        f.write("# Instructions of one forward + input-gradient call (callgrind, 1 thread, SEGA_ISA=avx2),\n"
                "# written by scripts/bench_instructions.py --update; checked by --check (scripts/test.sh).\n")
        f.write("model\theight\twidth\tweights\tinstructions\n")
        for name in sorted(rows):
            h, w, weights, n = rows[name]
            f.write(f"{name}\t{h}\t{w}\t{weights}\t{n}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="fixtures", choices=["fixtures", "sources", "all"])
    ap.add_argument("--models", help="comma list of model names (of the chosen set)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true")
    g.add_argument("--update", action="store_true")
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--file", default=DEFAULT_FILE)
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--bin", help="sega-modelbench to measure (default: Benchmarks/.build/release, built if missing)")
    ap.add_argument("--rebuild", action="store_true", help="build Benchmarks (release) first")
    a = ap.parse_args(argv)
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        raise SystemExit("bench_instructions: valgrind (with callgrind_annotate) is not installed")
    models = {}
    for s in (["fixtures", "sources"] if a.set == "all" else [a.set]):
        models.update(SETS[s])
    if a.models:
        wanted = [m.strip() for m in a.models.split(",") if m.strip()]
        for m in wanted:
            if m not in models:
                raise SystemExit(f"bench_instructions: unknown model {m} (known: {', '.join(models)})")
        models = {m: models[m] for m in wanted}
    src = a.bin or modelbench(a.rebuild)
    tmp = tempfile.mkdtemp(prefix="sega-instr-")
    try:
        binary = os.path.join(tmp, "sega-modelbench")
        shutil.copy(src, binary)
        if sh(["strip", "--strip-debug", binary]).returncode != 0:
            raise SystemExit("bench_instructions: strip failed")
        old = read_file(a.file)
        new, failures, gains = {}, [], []
        print(f"{'model':<24} {'size':>7} {'instructions':>14} {'recorded':>14} {'change':>8}")
        for name, (weights, h, w) in models.items():
            total, funcs = count(binary, weights, h, w, tmp)
            rel = os.path.relpath(weights, ROOT)
            new[name] = (h, w, rel, total)
            rec = old.get(name)
            change = ""
            if rec:
                d = total / rec[3] - 1
                change = f"{100 * d:+.2f}%"
                if d > a.tolerance:
                    failures.append(f"{name} +{100 * d:.2f}%")
                elif d < -a.tolerance:
                    gains.append(f"{name} {100 * d:.2f}%")
            elif a.check:
                failures.append(f"{name} not recorded")
            print(f"{name:<24} {f'{h}x{w}':>7} {total:>14,} {(f'{rec[3]:,}' if rec else '-'):>14} {change:>8}", flush=True)
            if a.breakdown:
                for fam, n in sorted(families(funcs).items(), key=lambda kv: -kv[1]):
                    print(f"    {fam:<16} {n:>14,} {100 * n / total:6.1f}%")
        if a.update:
            old.update(new)
            write_file(a.file, old)
            print(f"bench_instructions: wrote {len(new)} row(s) to {os.path.relpath(a.file, ROOT)}")
        if gains:
            print(f"instructions: fell by more than {100 * a.tolerance:g}%: {', '.join(gains)} (--update records it)")
        if a.check and failures:
            print(f"instructions: FAILED (more than +{100 * a.tolerance:g}%): {', '.join(failures)}")
            return 1
        print("instructions: ok")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
