#!/usr/bin/env python3
"""Checks of scripts/tune.py's statistics on synthetic records (no sega run): the per-target paired
difference, the separation count of --versus, and --report-only's tables.

    python3 scripts/test_tune.py        # exit 0 when every check passes
"""
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tune  # noqa: E402

TARGETS = ["near", "far"]
TAU = 0.9


def write_setting(root, setting, method, clean, attacked):
    """One setting's folder as sega eval leaves it: report.json and one record per image."""
    d = os.path.join(root, f"setting={setting}")
    os.makedirs(os.path.join(d, "records", method), exist_ok=True)
    for i, (c, a) in enumerate(zip(clean, attacked)):
        with open(os.path.join(d, "records", method, f"img{i:03d}.json"), "w") as f:
            json.dump({"target_clean": c, "matched": [{"tau": TAU, "target_attacked": a}]}, f)
    per = [tune.srocc([c[t] for c in clean], [a[t] for a in attacked]) for t in range(len(TARGETS))]
    row = {"mean_target_srocc": sum(per) / len(per), "mean_target_srocc_ci95": [-1, 1],
           "targets": [{"srocc": v} for v in per], "already_above": 0, "images": len(clean)}
    rep = {"methods": [method], "targets": TARGETS, "rows": [{"mean_ssim": 0.9, "gradient_calls": 36}],
           "matched": [{"tau": TAU, "rows": [row]}]}
    with open(os.path.join(d, "report.json"), "w") as f:
        json.dump(rep, f)
    return d


def main():
    rng = random.Random(1)
    n = 40
    clean = [[rng.random(), rng.random()] for _ in range(n)]
    noise = lambda s: [[c[0] + rng.gauss(0, s), c[1] + rng.gauss(0, s)] for c in clean]  # noqa: E731
    # "strong" scrambles target 0 (its attacked scores are independent of clean), leaves target 1
    # as the baseline does; "weak" barely moves either.
    strong = [[rng.random(), c[1] + rng.gauss(0, 0.02)] for c in clean]
    weak = noise(0.02)
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)

    with tempfile.TemporaryDirectory() as root:
        ds = write_setting(root, "strong", "sega", clean, strong)
        dw = write_setting(root, "weak", "ifgsm", clean, weak)
        a, b = tune.matched_scores(ds, "sega", TAU), tune.matched_scores(dw, "ifgsm", TAU)
        check(len(a) == n and len(b) == n, "matched_scores reads every record")

        # Per target: the paired delta is the plain SROCC difference on that target only.
        for t in range(2):
            d, lo, hi = tune.paired(b, a, targets=[t])
            want = tune.srocc([c[t] for c in clean], [w[t] for w in weak]) - \
                tune.srocc([c[t] for c in clean], [s[t] for s in strong])
            check(abs(d - want) < 1e-12, f"paired delta on target {t}: {d} vs {want}")
            check(lo <= d <= hi, f"interval contains its delta on target {t}")
        d_all, _, _ = tune.paired(b, a)
        d0, _, _ = tune.paired(b, a, targets=[0])
        d1, _, _ = tune.paired(b, a, targets=[1])
        check(abs(d_all - (d0 + d1) / 2) < 1e-12, "mean over all targets = mean of per-target deltas")

        # Separation: strong is separated from weak on target 0 only.
        res = tune.separation(a, [("ifgsm", b)], 2, resamples=500)
        check(res[0][0] == 1 and res[0][1][2] > 0, f"separated on the target it scrambles: {res[0]}")
        check(res[1][0] == 0, f"not separated where both leave the target alone: {res[1]}")
        # ...and the weak row is separated from nothing (its differences are negative on target 0).
        res = tune.separation(b, [("sega", a)], 2, resamples=500)
        check(res[0][0] == 0 and res[0][1][1] < 0, f"the weaker row is not separated: {res[0]}")

        # --report-only rebuilds both tables from the folders, without running sega.
        table = os.path.join(root, "t.md")
        cmd = [sys.executable, os.path.join(HERE, "tune.py"), "--report-only", "--out", root, "--table", table,
               "--sega", "/nonexistent/sega", "--setting", "strong: --methods sega",
               "--setting", "weak: --methods ifgsm"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        check(p.returncode == 0, f"--report-only ran: {p.stderr}")
        text = open(table).read() if os.path.exists(table) else ""
        line = [ln for ln in text.splitlines() if ln.startswith("| strong |")]
        check(len(line) == 1 and line[0].rstrip(" |").endswith("near"),
              f"versus table names the separated target: {line}")
        # A missing report is refused with its path, and nothing is run.
        p = subprocess.run(cmd + ["--setting", "absent: --methods sega"], capture_output=True, text=True)
        check(p.returncode != 0 and "setting=absent/report.json is missing" in p.stderr,
              f"--report-only refuses a missing report: {p.returncode} {p.stderr}")

    for f in fails:
        print("FAIL:", f)
    print(f"test_tune: {'FAILED' if fails else 'ok'} ({len(fails)} failures)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
