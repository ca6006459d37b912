#!/usr/bin/env python3
"""Kill test: `sega eval` SIGKILLed at random moments loses nothing.

    python3 scripts/fault/kill_test.py [KILLS] [--sega PATH] [--seed S]

KILLS (default 50; run with 500 for the long check) runs of `sega eval` (3 images of 16x16, the
fixture models, 3 methods) are killed with SIGKILL after a random delay in [0, the length of an
uninterrupted run] (a run that finishes first is checked the same way and does not count). After each kill every file of the report directory must be complete (each
JSON record and report file parses, each PNG has valid chunks through IEND and inflates), then a
rerun must finish (exit 0), leave no temporary file (`.NAME.tmp-XXXXXX`) behind, including those
the kill left, and write a report equal to the uninterrupted run's (scripts/compare_reports.py:
timing fields aside, PNGs byte for byte). Before the next kill a random part of the records and
kept images is deleted, so that kills land in attacks, writes and the report alike.

Also (c): two shards of the same eval run at once into one report; then a plain run adds nothing
and the report equals the uninterrupted one.

Ends with "kill-test: ..." and "N passed, M failed" lines; exits 1 on any failure.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402


def rerun(sega, images, out, ref, stats):
    r = subprocess.run(common.eval_args(sega, images, out), capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return "rerun exited %d: %s" % (r.returncode, r.stderr[-500:])
    left = common.temporaries(out)
    stats["leftover"] += len(left)
    if left:
        return "temporary files survived the rerun: %s" % left
    same, diff = common.same_report(ref, out)
    return None if same else "report differs from the uninterrupted run:\n" + diff[-1500:]


def thin_out(out, rng):
    """Delete about half of the records, each with what it stands for (its kept attacked image and,
    for SEGA, the image's sheet: a complete record is not redone, so these would stay missing),
    and sometimes the report files."""
    for path in common.records(out):
        if rng.random() < 0.5:
            method, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)[:-len(".json")]
            doomed = [path, os.path.join(out, "attacked", method, name + ".png")]
            if method == "sega":
                doomed.append(os.path.join(out, "sheets", name + ".png"))
            for p in doomed:
                if os.path.exists(p):
                    os.unlink(p)
    if rng.random() < 0.3:
        for n in ("report.md", "report.csv", "report.json", "srocc.svg"):
            if os.path.exists(os.path.join(out, n)):
                os.unlink(os.path.join(out, n))


def one_kill(sega, images, out, ref, full, rng, stats):
    """Start eval, SIGKILL it after a random delay, check the files; rerun. Error text or None."""
    delay = rng.uniform(0, full)
    p = subprocess.Popen(common.eval_args(sega, images, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=delay)
        stats["finished"] += 1  # finished before the kill: no kill this round
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        stats["kills"] += 1
        stats["temps_after_kill"] += len(common.temporaries(out))
    checked, broken = common.check_outputs(out)
    stats["files"] += checked
    stats["records"] += len(common.records(out))
    stats["corrupt"] += len(broken)
    if broken:
        return "incomplete files after a kill at %.3f s: %s" % (delay, broken)
    err = rerun(sega, images, out, ref, stats)
    thin_out(out, rng)
    return err


def shards_at_once(sega, images, out, ref):
    """(c) Two shards into one report at the same time, then a plain run: the reference report."""
    ps = [subprocess.Popen(common.eval_args(sega, images, out, ["--shard", "%d/2" % k]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    errs = [p.communicate(timeout=600)[1] for p in ps]
    if any(p.returncode != 0 for p in ps):
        return "a shard failed: %s" % errs
    r = subprocess.run(common.eval_args(sega, images, out), capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or "0 attack(s) run" not in r.stderr:
        return "after both shards a plain run did work or failed: %s" % r.stderr
    _, broken = common.check_outputs(out)
    same, diff = common.same_report(ref, out)
    if broken or not same:
        return "shards: broken %s, report differs:\n%s" % (broken, diff[-1500:])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kills", type=int, nargs="?", default=50)
    ap.add_argument("--sega")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    sega = common.sega_binary(a.sega)
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="sega-kill-")
    images, ref, out = (os.path.join(work, n) for n in ("images", "ref", "out"))
    common.write_images(images, 3, width=16, height=16)
    runs = []
    for k in range(3):  # the length of an uninterrupted run: the median of three
        t0 = time.monotonic()
        subprocess.run(common.eval_args(sega, images, ref if k == 0 else os.path.join(work, "time%d" % k)),
                       check=True, capture_output=True, timeout=600)
        runs.append(time.monotonic() - t0)
    full = sorted(runs)[1]
    stats = dict(kills=0, finished=0, records=0, files=0, corrupt=0, leftover=0, temps_after_kill=0)
    failures = []
    started = time.monotonic()
    while stats["kills"] < a.kills and stats["kills"] + stats["finished"] < 20 * a.kills:
        err = one_kill(sega, images, out, ref, full, rng, stats)
        if err:
            failures.append(err)
            print("kill-test: FAILED: " + err, file=sys.stderr)
            if len(failures) >= 3:
                break
    shard_err = shards_at_once(sega, images, os.path.join(work, "shards"), ref)
    if shard_err:
        print("kill-test: FAILED: " + shard_err, file=sys.stderr)
    print("kill-test: %s: %d kills (%d runs finished first), records checked %d, files checked %d, corrupt %d, "
          "temporary files left by kills %d, left after the next run %d; %.1f s per uninterrupted run, %.0f s in all"
          % (os.path.basename(sega), stats["kills"], stats["finished"], stats["records"], stats["files"], stats["corrupt"],
             stats["temps_after_kill"], stats["leftover"], full, time.monotonic() - started))
    print("shard-test: two shards at once into one report: %s" % ("ok" if not shard_err else "FAILED"))
    ok_kill = not failures and stats["kills"] >= a.kills
    print("kill-test: %s" % ("ok" if ok_kill else "FAILED"))
    passed = int(ok_kill) + int(not shard_err)
    print("fault: %d passed, %d failed" % (passed, 2 - passed))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if passed == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
