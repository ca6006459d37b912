#!/usr/bin/env python3
"""Tune attack settings on the VALIDATION split, never on test.

    scripts/tune.py --grid sigma=0.01,0.02,0.05 --grid samples=4,8 [--grid mask-quantile=0,0.3]
                    [--setting 'NAME: FLAGS' ...]
                    [--images data/sega-iqa/manifest.csv] [--split val] [--stride 10] [--limit N]
                    [--methods sega] [--tau 0.90] [--out tune-val] [--table OUT/table.md]
                    [--sega .build/release/sega] [--versus sega] [--report-only]
                    [-- extra sega eval flags]

Runs `sega eval` once per combination of the grid (every --grid NAME=V1,V2,... is an attack flag
of docs/settings.md: sigma, samples, mask-quantile, mask-agreement, jnd-threshold, eps, alpha,
iters, vt-samples, ...; the product of all of them) on the validation split, with every method
of --methods, the whole target panel (sega's default targets unless --targets is passed after
--) and --match-ssim TAU, each into its own folder under --out (a rerun resumes from the records
there). Then ranks the settings x methods by the mean over targets of the SROCC at SSIM TAU (lower
= the attack moved the rankings more), with the 95% bootstrap interval `sega eval` gives for it,
and writes a Markdown table to --table: per row the per-target SROCC at TAU, the paired
difference to the best row on the same images with a 95% bootstrap interval (computed here from
the records: images resampled jointly, 2000 resamples), the images already above TAU, the mean
SSIM and gradient calls at equal eps.

--setting 'NAME: FLAGS' (repeatable) adds a named set of flags that are not a product, e.g.
--setting 'liu-1: --budget jnd --jnd-model liu --budget-lambda 1'; every setting is crossed with the
grid, all are ranked in one table, and a `--methods` among FLAGS replaces --methods for that
setting (so baselines can run once, under the defaults, beside SEGA's variants). Without
--setting there is one, the defaults.

--versus METHOD (default sega) adds a second table: each row of METHOD against every row of the
other methods, target by target (the per-target SROCC difference on the same images with its 95%
paired bootstrap interval), with the targets on which the row is separated from every other row:
the issue's "separated from each baseline on a target" read on validation. --report-only rebuilds
both tables from the reports and records already in --out, running nothing.

Refuses the test split (--split test, or a --split passed after --): the test images are for the
README's table, scored once per change of defaults.
"""
import argparse
import itertools
import json
import os
import random
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_grid(items):
    grid = []
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().lstrip("-")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not name or not vals:
            sys.exit(f"tune: --grid wants NAME=V1,V2,..., got '{item}'")
        if name in ("split", "match-ssim", "methods", "out", "o", "images"):
            sys.exit(f"tune: --{name} is set by tune.py, not a setting to tune")
        grid.append((name, vals))
    names = [n for n, _ in grid]
    if len(set(names)) != len(names):
        sys.exit("tune: a setting is given twice in --grid")
    return grid


def slug(combo):
    s = ",".join(f"{n}={v}" for n, v in combo) or "defaults"
    return "".join(c if c.isalnum() or c in "=,.-_" else "_" for c in s)


def average_ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def pearson(a, b):
    n = len(a)
    if n < 2:
        return float("nan")
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    if saa <= 0 or sbb <= 0:
        return float("nan")
    return max(-1.0, min(1.0, sab / (saa ** 0.5 * sbb ** 0.5)))


def srocc(a, b):
    return pearson(average_ranks(a), average_ranks(b)) if len(a) >= 2 else float("nan")


def mean_srocc(recs, idx, targets=None):
    """Mean over targets (all, or the indices `targets`) of SROCC(clean, matched) over the images idx;
    recs: [(clean, matched)]."""
    vals = []
    for t in (range(len(recs[0][0])) if targets is None else targets):
        vals.append(srocc([recs[i][0][t] for i in idx], [recs[i][1][t] for i in idx]))
    return sum(vals) / len(vals)


def matched_scores(report_dir, method, tau):
    """Per image name: (clean target scores, target scores of the image matched to tau)."""
    out = {}
    d = os.path.join(report_dir, "records", method)
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not name.endswith(".json"):
            continue
        with open(os.path.join(d, name)) as f:
            r = json.load(f)
        for m in r.get("matched", []):
            if abs(m["tau"] - tau) < 1e-12:
                out[name[:-5]] = (r["target_clean"], m["target_attacked"])
    return out


def paired(a, b, resamples=2000, seed=0, targets=None):
    """mean SROCC(a) - mean SROCC(b) on the images both have, with a 95% percentile bootstrap
    (the mean over the target indices `targets`, default all)."""
    names = sorted(set(a) & set(b))
    if len(names) < 2:
        return float("nan"), float("nan"), float("nan")
    ra, rb = [a[n] for n in names], [b[n] for n in names]
    n = len(names)
    full = list(range(n))
    delta = mean_srocc(ra, full, targets) - mean_srocc(rb, full, targets)
    rng = random.Random(seed)
    vals = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        v = mean_srocc(ra, idx, targets) - mean_srocc(rb, idx, targets)
        if v == v:
            vals.append(v)
    if len(vals) * 2 < resamples:
        return delta, float("nan"), float("nan")
    vals.sort()

    def q(p):
        x = p * (len(vals) - 1)
        i = int(x)
        return vals[i] + (x - i) * (vals[i + 1] - vals[i]) if i + 1 < len(vals) else vals[i]
    return delta, q(0.025), q(0.975)


def fmt(v, d=4):
    return "n/a" if v is None or v != v else f"{v:.{d}f}"


def parse_settings(items):
    """[(name, flags, methods or None)]: the --setting values, or one unnamed setting."""
    out = []
    for item in items:
        name, sep, flags = item.partition(":")
        name = name.strip()
        if not sep or not name:
            sys.exit(f"tune: --setting wants 'NAME: FLAGS', got '{item}'")
        words = shlex.split(flags)
        methods = None
        if "--methods" in words:
            i = words.index("--methods")
            if i + 1 >= len(words):
                sys.exit(f"tune: --setting '{name}': --methods needs a value")
            methods = words[i + 1]
            del words[i:i + 2]
        if any(w in ("--split", "--match-ssim", "-o", "--out", "--images") or w.startswith("--split=") for w in words):
            sys.exit(f"tune: --setting '{name}': split, match-ssim, out and images are set by tune.py")
        out.append((name, words, methods))
    if len({n for n, _, _ in out}) != len(out):
        sys.exit("tune: two --setting values have the same name")
    return out or [("", [], None)]


def run_grid(args, grid, extra, settings):
    rows = []
    for (sname, sflags, smethods), combo in itertools.product(
            settings, itertools.product(*[[(n, v) for v in vals] for n, vals in grid])):
        label = ", ".join(([sname] if sname else []) + [f"{n} {v}" for n, v in combo]) or "defaults"
        out = os.path.join(args.out, slug(([("setting", sname)] if sname else []) + list(combo)))
        cmd = [args.sega, "eval", "--images", args.images, "--split", args.split, "--stride", str(args.stride),
               "--methods", smethods or args.methods, "--match-ssim", str(args.tau), "-o", out]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        for n, v in combo:
            cmd += [f"--{n}", v]
        cmd += sflags + extra
        if args.report_only:
            if not os.path.isfile(os.path.join(out, "report.json")):
                sys.exit(f"tune: --report-only: {out}/report.json is missing (run without --report-only first)")
        else:
            print("tune: " + " ".join(cmd), file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True)
        with open(os.path.join(out, "report.json")) as f:
            rep = json.load(f)
        at = next((m for m in rep["matched"] if abs(m["tau"] - args.tau) < 1e-12), None)
        for k, method in enumerate(rep["methods"]):
            raw, r = rep["rows"][k], at["rows"][k]
            rows.append({"setting": label, "method": method,
                         "dir": out, "targets": rep["targets"], "mean": r["mean_target_srocc"],
                         "ci": r["mean_target_srocc_ci95"], "per": [t["srocc"] for t in r["targets"]],
                         "above": r["already_above"], "images": r["images"], "ssim": raw["mean_ssim"],
                         "calls": raw["gradient_calls"], "scores": matched_scores(out, method, args.tau)})
    return rows


def table(args, rows, extra):
    rows.sort(key=lambda r: (float("inf") if r["mean"] is None else r["mean"]))
    best = rows[0]
    tau = f"{args.tau:.2f}"
    s = ["# Tuning on the validation split", "",
         f"Written by `scripts/tune.py` (`{shlex.join(sys.argv[1:])}`): `sega eval` on `--split {args.split}` "
         f"(every {args.stride}th image{f', at most {args.limit}' if args.limit else ''}), methods {args.methods}, "
         f"targets {', '.join(rows[0]['targets'])}, every attacked image matched to SSIM {tau}.", "",
         f"Ranked by the mean over targets of SROCC(clean, attacked) at SSIM {tau} (lower = the attack moved the "
         "rankings more). [95% CI]: percentile bootstrap over the images. Paired: this row's mean SROCC minus the "
         "best row's on the same images, images resampled jointly; an interval that reaches 0 does not separate "
         "the two settings on these images.", ""]
    head = ["rank", "setting", "method", f"mean SROCC at SSIM {tau} [95% CI]"] + rows[0]["targets"] + \
        ["- best, paired [95% CI]", f"already above {tau}", "images", "mean SSIM (equal eps)", "grad calls"]
    s.append("| " + " | ".join(head) + " |")
    s.append("|" + "---|" * len(head))
    for i, r in enumerate(rows):
        if r is best:
            p = "-"
        else:
            d, lo, hi = paired(r["scores"], best["scores"])
            p = f"{'+' if d == d and d >= 0 else ''}{fmt(d)} [{fmt(lo, 2)}, {fmt(hi, 2)}]"
        cells = [str(i + 1), r["setting"], r["method"], f"{fmt(r['mean'])} [{fmt(r['ci'][0], 2)}, {fmt(r['ci'][1], 2)}]"] + \
            [fmt(v) for v in r["per"]] + [p, str(r["above"]), str(r["images"]), fmt(r["ssim"]), fmt(r["calls"], 0)]
        s.append("| " + " | ".join(cells) + " |")
    if args.versus:
        s += [""] + versus(args, rows)
    return "\n".join(s) + "\n"


def separation(focus, others, ntargets, resamples=2000):
    """Per target: (separated, weakest) for one focus row against the other rows, paired on images.

    focus, others: matched_scores dicts (others: [(label, scores)]). For each target t, every other
    row's SROCC minus the focus row's on the images both have, with its 95% bootstrap interval; the
    focus row is separated ahead of a row when that interval's lower end is above 0. Returns, per
    target, the number of rows it is separated from and the pair with the smallest lower end
    (label, delta, lo, hi): the one that decides whether it is separated from all of them."""
    out = []
    for t in range(ntargets):
        pairs = [(label,) + paired(sc, focus, resamples=resamples, targets=[t]) for label, sc in others]
        sep = sum(1 for _, _, lo, _ in pairs if lo > 0)   # a NaN interval separates nothing
        # An undefined interval (NaN) counts as the weakest.
        out.append((sep, min(pairs, key=lambda p: p[2] if p[2] == p[2] else float("-inf"))))
    return out


def versus(args, rows):
    """Markdown lines: each row of method args.versus against every row of another method, per target."""
    focus = [r for r in rows if r["method"] == args.versus]
    others = [r for r in rows if r["method"] != args.versus]
    if not focus or not others:
        return [f"(--versus {args.versus}: no row of that method, or no other method, to compare)"]
    targets = rows[0]["targets"]
    tau = f"{args.tau:.2f}"
    other_scores = [(f"{r['method']}" + (f" ({r['setting']})" if len({o['setting'] for o in others}) > 1 else ""),
                     r["scores"]) for r in others]
    s = [f"## Per target: each `{args.versus}` row against the {len(others)} rows of other methods (SSIM {tau})", "",
         f"Per target, the number of other rows this row is separated from (their SROCC minus this row's on the "
         "same images, 95% paired bootstrap interval above 0), and the weakest pair (smallest lower end). "
         "`all` = separated from every other row on that target.", ""]
    head = ["setting"] + targets + ["targets separated from all"]
    s.append("| " + " | ".join(head) + " |")
    s.append("|" + "---|" * len(head))
    for r in focus:
        res = separation(r["scores"], other_scores, len(targets))
        cells, full = [r["setting"] or "defaults"], []
        for t, (sep, (label, d, lo, hi)) in enumerate(res):
            tag = "all" if sep == len(others) else f"{sep}/{len(others)}"
            cells.append(f"{tag}; {label} {'+' if d == d and d >= 0 else ''}{fmt(d, 3)} [{fmt(lo, 2)}, {fmt(hi, 2)}]")
            if sep == len(others):
                full.append(targets[t])
        cells.append(", ".join(full) or "none")
        s.append("| " + " | ".join(cells) + " |")
    return s


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", action="append", default=[], help="NAME=V1,V2,... (an attack flag without --); repeat")
    ap.add_argument("--setting", action="append", default=[], help="'NAME: FLAGS' a named set of flags; repeat")
    ap.add_argument("--images", default=os.path.join(REPO, "data/sega-iqa/manifest.csv"))
    ap.add_argument("--split", default="val")
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--methods", default="sega")
    ap.add_argument("--tau", type=float, default=0.90)
    ap.add_argument("--out", default=os.path.join(REPO, "tune-val"))
    ap.add_argument("--table", help="where to write the table (default: OUT/table.md; docs/tuning.md is the lab note that quotes it)")
    ap.add_argument("--sega", default=os.path.join(REPO, ".build/release/sega"))
    ap.add_argument("--versus", default="sega",
                    help="a method: its rows against every other method's row, per target, paired (empty: no such section)")
    ap.add_argument("--report-only", action="store_true",
                    help="do not run sega eval: read each setting's report.json already in --out (refused if one is missing)")
    args = ap.parse_args(own)
    splits = [args.split] + [extra[i + 1] for i, a in enumerate(extra[:-1]) if a == "--split"] + \
        [a.split("=", 1)[1] for a in extra if a.startswith("--split=")]
    if any(s.strip().lower() == "test" for s in splits):
        sys.exit("tune: refusing the test split: tune on --split val; the test split is scored once per change of defaults")
    if not 0 < args.tau < 1:
        sys.exit(f"tune: --tau must be in (0, 1), got {args.tau}")
    if args.stride < 1 or (args.limit is not None and args.limit < 1):
        sys.exit("tune: --stride and --limit must be >= 1")
    if not args.table:
        args.table = os.path.join(args.out, "table.md")
    grid = parse_grid(args.grid)
    rows = run_grid(args, grid, extra, parse_settings(args.setting))
    text = table(args, rows, extra)
    os.makedirs(os.path.dirname(os.path.abspath(args.table)), exist_ok=True)
    tmp = args.table + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.table)
    print(text)
    print(f"tune: table written to {args.table}", file=sys.stderr)


if __name__ == "__main__":
    main()
