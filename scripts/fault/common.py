"""Shared helpers of the fault tests (Python standard library only).

Tiny PNG images written without any imaging library, the sega binary to test, a check that
every output file of a report directory is complete (JSON parses, PNG has its IEND chunk and
its image data inflates), sega's temporary files, and report comparison through
scripts/compare_reports.py (timing fields aside).
"""
import json
import os
import random
import struct
import subprocess
import sys
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
SOURCE = os.path.join(FIXTURES, "cnniqa.safetensors")
TARGET = os.path.join(FIXTURES, "lite0.safetensors")


def sega_binary(arg=None):
    """The sega to test: --sega PATH, $SEGA_BIN, else the newest of .build/{release,debug}/sega."""
    if arg:
        return arg
    if os.environ.get("SEGA_BIN"):
        return os.environ["SEGA_BIN"]
    cands = [os.path.join(ROOT, ".build", c, "sega") for c in ("release", "debug")]
    cands = [c for c in cands if os.path.isfile(c)]
    if not cands:
        sys.exit("no built sega: run `swift build` first")
    return max(cands, key=os.path.getmtime)


def png_bytes(width, height, seed):
    """An 8-bit RGB PNG of deterministic noise."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(3 * width)) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def write_images(directory, count, width=24, height=20):
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        with open(os.path.join(directory, "img%02d.png" % i), "wb") as f:
            f.write(png_bytes(width, height, seed=i))


def is_temporary(name):
    """sega's temporary names: .NAME.tmp-XXXXXX and .sega-write-test-XXXXXX."""
    tail = name[-6:]
    if not name.startswith(".") or len(name) <= 7 or not tail.isalnum() or not tail.isascii():
        return False
    head = name[:-6]
    return head == ".sega-write-test-" or (head.endswith(".tmp-") and len(head) >= 7)


def temporaries(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names if is_temporary(n)]
    return out


def png_complete(data):
    """Signature, chunks with valid CRCs through IEND, image data that inflates."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    pos, idat = 8, b""
    while pos + 12 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if len(body) != n or pos + 12 + n > len(data):
            return False
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if crc != zlib.crc32(kind + body) & 0xFFFFFFFF:
            return False
        if kind == b"IDAT":
            idat += body
        if kind == b"IEND":
            try:
                zlib.decompress(idat)
            except zlib.error:
                return False
            return pos + 12 == len(data)
        pos += 12 + n
    return False


def check_outputs(root):
    """(files checked, list of broken files) for every non-temporary file under root."""
    checked, broken = 0, []
    for d, _, names in os.walk(root):
        for n in names:
            if is_temporary(n):
                continue
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                data = f.read()
            ok = True
            if n.endswith(".json"):
                try:
                    json.loads(data.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    ok = False
            elif n.endswith(".png"):
                ok = png_complete(data)
            else:
                ok = len(data) > 0
            checked += 1
            if not ok:
                broken.append(p)
    return checked, broken


def records(root):
    out = []
    for d, _, names in os.walk(os.path.join(root, "records")):
        out += [os.path.join(d, n) for n in names if n.endswith(".json") and not is_temporary(n)]
    return out


def same_report(a, b):
    """compare_reports.py's verdict (timing aside) and its output."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compare_reports.py"), a, b],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


def eval_args(sega, images, out, extra=()):
    return [sega, "eval", "--sources", SOURCE, "--targets", TARGET, "--images", images,
            "--methods", "sega,ifgsm,random", "--iters", "1", "--samples", "1", "--sheets", "2",
            "--threads", "1", "-o", out] + list(extra)


def digest_tree(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out
