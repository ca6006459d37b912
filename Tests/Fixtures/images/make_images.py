#!/usr/bin/env python3
"""Write the small image fixtures of Tests/SegaIOTests (run with the venv's python: needs PIL).

PNG files are encoded by hand here (signature, chunks with CRC, zlib, all five row filters,
Adam7 interlacing), so that every color type and bit depth is covered, including ones PIL does
not write (16-bit RGB/RGBA, 2-bit gray, interlaced). Their pixel values follow closed formulas
that the Swift tests recompute (keep `v8`, `v16`, `gray`, `palette` in sync with
PNGReadTests.swift). Each 8-bit file is also decoded with PIL's convert('RGB') here, as a check
of this encoder. JPEG files are written by PIL, each with its PIL decode as a lossless PNG.

    /work/venv/bin/python Tests/Fixtures/images/make_images.py
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 13, 7  # odd sizes: partial Adam7 blocks, packed rows with padding bits


# MARK: - pixel formulas (mirrored in Swift)

def v8(c, y, x):
    return (x * 37 + y * 91 + c * 53 + 11) % 256


def v16(c, y, x):
    return (x * 9973 + y * 7919 + c * 4001 + 123) % 65536


def gray(y, x, depth):
    return (x * 5 + y * 3 + 1) % (1 << depth)


PALETTE = [((i * 29 + 7) % 256, (i * 71 + 3) % 256, (i * 113 + 5) % 256) for i in range(16)]


def palette_index(y, x):
    return (x * 5 + y * 3) % 16


# MARK: - PNG encoder

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_rows(rows, bpp):
    """Filter each row with type (row index % 5): None, Sub, Up, Average, Paeth."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        ft = i % 5
        f = bytearray()
        for k, r in enumerate(row):
            a = row[k - bpp] if k >= bpp else 0
            b = prev[k]
            c = prev[k - bpp] if k >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((r - pred) & 0xFF)
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def encode_png(w, h, depth, ctype, pixel, interlace=False, plte=None, trns=None):
    """pixel(y, x) -> tuple of samples for that color type."""
    ch = CHANNELS[ctype]
    bpp = max(1, ch * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
        if not xs or not ys:
            continue
        rows = [pack_row([s for x in xs for s in pixel(y, x)], depth) for y in ys]
        raw += filter_rows(rows, bpp)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    if plte is not None:
        out += chunk(b"PLTE", b"".join(bytes(p) for p in plte))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw, 9))
    out += chunk(b"IEND", b"")
    return out


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def pil_rgb(name):
    return np.asarray(Image.open(os.path.join(HERE, name)).convert("RGB"))


def check8(name, expect):
    """PIL's convert('RGB') of the file must equal the formula (8-bit files only)."""
    got = pil_rgb(name)
    want = np.array([[expect(y, x) for x in range(got.shape[1])] for y in range(got.shape[0])], dtype=np.uint8)
    assert got.shape == want.shape and (got == want).all(), f"{name}: PIL decode differs from the formula"


def rgb8(y, x):
    return tuple(v8(c, y, x) for c in range(3))


def rgb16(y, x):
    return tuple(v16(c, y, x) for c in range(3))


def main():
    # MARK: valid PNGs
    write("rgb8.png", encode_png(W, H, 8, 2, rgb8))
    check8("rgb8.png", rgb8)
    write("rgb8_interlaced.png", encode_png(W, H, 8, 2, rgb8, interlace=True))
    check8("rgb8_interlaced.png", rgb8)
    write("rgba8.png", encode_png(W, H, 8, 6, lambda y, x: rgb8(y, x) + ((x * 17 + y) % 256,)))
    check8("rgba8.png", rgb8)
    write("rgb16.png", encode_png(W, H, 16, 2, rgb16))
    write("rgba16_interlaced.png", encode_png(W, H, 16, 6, lambda y, x: rgb16(y, x) + (40000,), interlace=True))
    write("gray8.png", encode_png(W, H, 8, 0, lambda y, x: (v8(0, y, x),)))
    check8("gray8.png", lambda y, x: (v8(0, y, x),) * 3)
    for d in (1, 2, 4):
        write(f"gray{d}.png", encode_png(W, H, d, 0, lambda y, x, d=d: (gray(y, x, d),)))
        check8(f"gray{d}.png", lambda y, x, d=d: (gray(y, x, d) * 255 // ((1 << d) - 1),) * 3)
    write("gray16.png", encode_png(W, H, 16, 0, lambda y, x: (v16(0, y, x),)))
    write("graya8.png", encode_png(W, H, 8, 4, lambda y, x: (v8(0, y, x), 200)))
    check8("graya8.png", lambda y, x: (v8(0, y, x),) * 3)
    write("graya16.png", encode_png(W, H, 16, 4, lambda y, x: (v16(0, y, x), 1234)))
    pal = lambda y, x: PALETTE[palette_index(y, x)]
    write("palette8.png", encode_png(W, H, 8, 3, lambda y, x: (palette_index(y, x),), plte=PALETTE))
    check8("palette8.png", pal)
    write("palette4_trns.png", encode_png(W, H, 4, 3, lambda y, x: (palette_index(y, x),), plte=PALETTE,
                                          trns=bytes((i * 16) % 256 for i in range(16))))
    check8("palette4_trns.png", pal)
    write("one_pixel.png", encode_png(1, 1, 8, 2, lambda y, x: (10, 20, 30)))
    check8("one_pixel.png", lambda y, x: (10, 20, 30))

    # MARK: bad PNGs
    # Dimension bomb: a valid 50000 x 50000 RGB header (correct CRC) over a tiny IDAT.
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
    bomb += chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    write("bomb_50000x50000.png", bomb)
    good = encode_png(W, H, 8, 2, rgb8)
    # IHDR CRC broken (last byte of the IHDR chunk: offset 8 + 4 + 4 + 13 + 3).
    bad = bytearray(good)
    bad[8 + 4 + 4 + 13 + 3] ^= 0xFF
    write("bad_crc.png", bytes(bad))
    # Well-formed chunks around an IDAT that is not zlib data.
    garbage = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    garbage += chunk(b"IDAT", bytes(range(7, 107))) + chunk(b"IEND", b"")
    write("bad_zlib.png", garbage)

    # MARK: JPEGs with their PIL decode
    yy, xx = np.mgrid[0:23, 0:37]
    rng = np.random.RandomState(7)
    img = np.stack([128 + 100 * np.sin(xx / 5.0 + yy / 7.0), 60 + 3 * xx + 2 * yy, 200 - 4 * yy + 0 * xx], -1)
    img = np.clip(img + rng.randn(*img.shape) * 12, 0, 255).astype(np.uint8)
    pim = Image.fromarray(img, "RGB")
    pim.save(os.path.join(HERE, "rgb420.jpg"), quality=90, subsampling=2)
    pim.save(os.path.join(HERE, "rgb444_progressive.jpg"), quality=85, subsampling=0, progressive=True)
    pim.convert("L").save(os.path.join(HERE, "gray.jpg"), quality=90)
    pim.convert("CMYK").save(os.path.join(HERE, "cmyk.jpg"), quality=90)
    for name in ("rgb420", "rgb444_progressive", "gray"):
        dec = Image.open(os.path.join(HERE, f"{name}.jpg")).convert("RGB")
        dec.save(os.path.join(HERE, f"{name}.pil.png"))
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print(f"images: wrote fixtures, {total} bytes in {HERE}")


if __name__ == "__main__":
    main()
