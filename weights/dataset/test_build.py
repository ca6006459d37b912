#!/usr/bin/env python3
"""Reproducibility test of the dataset builder on a small subset (run by scripts/test.sh).

Builds the same subset twice from the same seed into two fresh directories and requires every
file (manifest and PNGs) to be byte-identical; then requires the manifest to hash to the digest
recorded below, which ties the output to the pinned library versions (requirements.txt), and a
different seed to change the random distortions; with --views 2, the extra view must be added for
train photos only and leave every one-view file unchanged. Exit status 0 = pass; one line per check.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Subset: the scikit-image photos (present wherever scikit-image is installed), every distortion,
# levels 1 and 5.
ARGS = ["--photos", "astronaut,coffee", "--levels", "1,5"]
EXPECTED_MANIFEST_SHA256 = "225aabcb83bcf0e7c3652a2524ffff907a256217a7fca312807f4fec7ddb835b"


def build(out, seed, extra=()):
    subprocess.run([sys.executable, os.path.join(HERE, "build.py"), "--out", out, "--seed", str(seed)] + ARGS
                   + list(extra), check=True, stderr=subprocess.DEVNULL)


def tree(root):
    got = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                got[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return got


def main():
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(f"dataset-test: {what}: {'ok' if ok else 'FAILED'}")
        failures += 0 if ok else 1

    with tempfile.TemporaryDirectory() as t:
        a, b, c = (os.path.join(t, n) for n in "abc")
        build(a, 0)
        build(b, 0)
        build(c, 1)
        ta, tb, tc = tree(a), tree(b), tree(c)
        check(len(ta) == 2 * 12 * 2 + 2 + 1, f"subset has {len(ta)} files (48 images, 2 refs, manifest)")
        check(ta == tb, "same seed: every file byte-identical")
        diff = [k for k in ta if k.startswith("images/") and ta[k] != tc.get(k)]
        check(any("white_noise" in k for k in diff) and not any("jpeg_" in k for k in diff),
              f"another seed changes the random distortions only ({len(diff)} files differ)")
        check(ta["manifest.csv"] == EXPECTED_MANIFEST_SHA256,
              f"manifest sha256 {ta['manifest.csv']} matches the recorded digest")
        # --views 2: astronaut is a train photo, coffee a test photo (seed 0).
        v, w = os.path.join(t, "v"), os.path.join(t, "w")
        build(v, 0, ["--views", "2"])
        build(w, 0, ["--views", "2"])
        tv, tw = tree(v), tree(w)
        check(tv == tw, "--views 2, same seed: every file byte-identical")
        check(all(tv.get(k) == h for k, h in ta.items() if k != "manifest.csv"),
              "--views 2 keeps every one-view file byte-identical (test images unchanged)")
        extra = sorted(k for k in tv if k not in ta)
        check(len(extra) == 24 + 1 and all("astronaut-v1" in k for k in extra),
              f"--views 2 adds a second view of the train photo only ({len(extra)} files: 24 images, 1 ref)")
        with open(os.path.join(v, "manifest.csv")) as f:
            rows = [ln.split(",") for ln in f.read().splitlines()[1:]]
        vrows = [r for r in rows if "astronaut-v1" in r[0]]
        check(len(vrows) == 24 and all(r[2] == "train" and r[3] == "astronaut" for r in vrows),
              "the extra view's rows keep the photo's split and source (the split stays by photo)")
        check(tv["refs/astronaut-v1.png"] != tv["refs/astronaut.png"], "the extra view is another crop")
        bad = subprocess.run([sys.executable, os.path.join(HERE, "build.py"), "--out", os.path.join(t, "x"),
                              "--views", "0"] + ARGS, capture_output=True, text=True)
        check(bad.returncode != 0 and "--views" in bad.stderr, "--views 0 is refused with a message")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
