#!/usr/bin/env python3
"""Full-disk test: when writes fail with ENOSPC, sega says so, exits non-zero, leaves no
half-written or truncated output and no temporary file, and never touches an input.

    python3 scripts/fault/disk_full_test.py [--sega PATH]

The disk is "full" through scripts/fault/enospc.c, an LD_PRELOAD interposer (built here with cc):
writes to regular files may add up to SEGA_FAULT_WRITE_LIMIT bytes; the write that reaches it is
cut short and every later one fails with ENOSPC. For `sega attack` (3 images) and `sega eval`
(3 images, 3 methods) the limit is set to 0, 1, 18 counts drawn from those at which an uninterrupted
run finished one of its files (and one byte either side) and a few random ones, and past the end. Each run must
either succeed with the reference outputs or fail with exit status 1 or 2 and "No space left on
device" on stderr; every file present must be complete and equal to the uninterrupted run's
(timing aside), no temporary file may remain, and the inputs must be unchanged. After each failed
eval, a rerun with room enough must finish with the reference report.

Ends with "disk-full-test: ..." and "N passed, M failed" lines; exits 1 on any failure.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402


def build_interposer(work):
    so = os.path.join(work, "enospc.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o", so,
                    os.path.join(os.path.dirname(__file__), "enospc.c"), "-ldl"], check=True)
    return so


def without_timing(path, data):
    if path.endswith(".json"):
        v = json.loads(data)
        return json.dumps({k: x for k, x in v.items() if k != "seconds"} if isinstance(v, dict) else v, sort_keys=True)
    return data


def check_run(kind, limit, r, out, ref, ref_files, inputs_before, inputs):
    """Error texts for one run under a write limit."""
    errs = []
    if r.returncode not in (0, 1, 2):
        errs.append("exit %d" % r.returncode)
    if r.returncode != 0 and "No space left on device" not in r.stderr:
        errs.append("exit %d without 'No space left on device': %s" % (r.returncode, r.stderr[-300:]))
    left = common.temporaries(out)
    if left:
        errs.append("temporary files left: %s" % left)
    _, broken = common.check_outputs(out)
    if broken:
        errs.append("incomplete files: %s" % broken)
    for rel, data in common.digest_tree(out).items():
        if rel in ref_files and not rel.startswith("report") and rel != "srocc.svg":
            # Records name their own directory ("output"): compare with it written alike.
            mine, theirs = data.replace(out.encode(), b"OUT"), ref_files[rel].replace(ref.encode(), b"OUT")
            if without_timing(rel, mine) != without_timing(rel, theirs):
                errs.append("%s differs from the uninterrupted run's" % rel)
    if common.digest_tree(inputs) != inputs_before:
        errs.append("an input changed")
    return ["%s, limit %d: %s" % (kind, limit, e) for e in errs]


def limits(total_sizes, rng):
    """0, 1, each cumulative file end and its neighbours, a few random counts, and past the end."""
    ends, acc = [], 0
    for n in total_sizes:
        acc += n
        ends += [acc - 1, acc, acc + 1]
    cands = sorted({e for e in ends if e >= 2} | {rng.randrange(2, acc + 1) for _ in range(4)})
    return [0, 1] + sorted(rng.sample(cands, min(len(cands), 18))) + [acc + 10_000]


def run_kind(kind, args_for, so, work, inputs, rng, rerun):
    ref = os.path.join(work, kind + "-ref")
    subprocess.run(args_for(ref), check=True, capture_output=True, timeout=600)
    ref_files = common.digest_tree(ref)
    sizes = [len(v) for k, v in sorted(ref_files.items())]
    inputs_before = common.digest_tree(inputs)
    errs, runs, failed_runs = [], 0, 0
    for limit in limits(sizes, rng):
        out = os.path.join(work, "%s-%d" % (kind, limit))
        env = dict(os.environ, LD_PRELOAD=so, SEGA_FAULT_WRITE_LIMIT=str(limit), SEGA_FAULT_PATH=out)
        r = subprocess.run(args_for(out), capture_output=True, text=True, env=env, timeout=600)
        runs += 1
        failed_runs += r.returncode != 0
        errs += check_run(kind, limit, r, out, ref, ref_files, inputs_before, inputs)
        if rerun and r.returncode != 0:
            rr = subprocess.run(args_for(out), capture_output=True, text=True, timeout=600)
            same, diff = common.same_report(ref, out)
            if rr.returncode != 0 or not same:
                errs.append("%s, limit %d: the rerun did not restore the report: %s %s" % (kind, limit, rr.stderr[-300:], diff[-800:]))
        shutil.rmtree(out, ignore_errors=True)
    return runs, failed_runs, errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sega")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    sega = common.sega_binary(a.sega)
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="sega-enospc-")
    so = build_interposer(work)
    inputs = os.path.join(work, "in")
    common.write_images(inputs, 3, width=16, height=16)
    images = sorted(os.path.join(inputs, n) for n in os.listdir(inputs))

    def attack_args(out):
        return [sega, "attack", "--sources", common.SOURCE, "--iters", "1", "--threads", "1", "-o", out] + images

    def eval_args(out):
        return common.eval_args(sega, inputs, out)

    results = [("attack",) + run_kind("attack", attack_args, so, work, inputs, rng, rerun=False),
               ("eval",) + run_kind("eval", eval_args, so, work, inputs, rng, rerun=True)]
    passed = 0
    for kind, runs, failed_runs, errs in results:
        for e in errs:
            print("disk-full-test: FAILED: " + e, file=sys.stderr)
        ok = not errs and failed_runs > 0
        passed += ok
        print("disk-full-test: %s: %d runs under a write limit, %d failed with ENOSPC as they must, %d problems: %s"
              % (kind, runs, failed_runs, len(errs), "ok" if ok else "FAILED"))
    print("fault: %d passed, %d failed" % (passed, len(results) - passed))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
