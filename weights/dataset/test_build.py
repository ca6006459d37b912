#!/usr/bin/env python3
"""Reproducibility test of the dataset builder on a small subset (run by scripts/test.sh).

Builds the same subset twice from the same seed into two fresh directories and requires every
file (manifest and PNGs) to be byte-identical; then requires the manifest to hash to the digest
recorded below, which ties the output to the pinned library versions (requirements.txt), and a
different seed to change the random distortions. Exit status 0 = pass; prints one line per check.
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


def build(out, seed):
    subprocess.run([sys.executable, os.path.join(HERE, "build.py"), "--out", out, "--seed", str(seed)] + ARGS,
                   check=True, stderr=subprocess.DEVNULL)


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
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
