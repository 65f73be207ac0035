#!/usr/bin/env python3
"""Converts facenet-pytorch's MTCNN weights (legacy torch.save state dicts) to safetensors.

Reads `facenet_pytorch/data/{pnet,rnet,onet}.pt` from the installed facenet-pytorch (2.6.0, MIT
licence) and writes `models/mtcnn/{pnet,rnet,onet}.safetensors` with the state-dict keys
unchanged (conv1.weight, prelu1.weight, dense5_1.bias, ...), plus `SOURCE.md` (version and
sha256 of every file) and `LICENSE` (the package's MIT licence text).

    source scripts/env.sh && python scripts/convert_mtcnn.py [--out models/mtcnn]

facenet_pytorch is not imported (its __init__ pulls in `requests`); the files are found
through the distribution's metadata instead.
"""
import argparse
import hashlib
import importlib.metadata as md
import os
import pathlib

import torch
from safetensors.torch import save_file

NETS = ["pnet", "rnet", "onet"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(root / "models" / "mtcnn"))
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    dist = md.distribution("facenet-pytorch")
    version = dist.version
    files = {str(f): f for f in dist.files}
    rows = []
    for net in NETS:
        src = pathlib.Path(dist.locate_file(files[f"facenet_pytorch/data/{net}.pt"]))
        sd = torch.load(src, map_location="cpu", weights_only=True)
        tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in sd.items()}
        dst = out / f"{net}.safetensors"
        save_file(tensors, str(dst), metadata={"source": f"facenet-pytorch {version} facenet_pytorch/data/{net}.pt"})
        rows.append((net, src, dst, len(tensors), sum(t.numel() for t in tensors.values())))
        print(f"{dst}: {len(tensors)} tensors")

    licence = next((f for name, f in files.items() if name.endswith(".dist-info/LICENSE.md")), None)
    if licence is not None:
        (out / "LICENSE").write_text(pathlib.Path(dist.locate_file(licence)).read_text())
    else:
        print("warning: facenet-pytorch's LICENSE.md not found in its dist-info; LICENSE not written")

    lines = [
        "# MTCNN weights (P-Net, R-Net, O-Net)",
        "",
        f"- Source: PyPI `facenet-pytorch=={version}` wheel, files `facenet_pytorch/data/{{pnet,rnet,onet}}.pt`",
        "  (legacy `torch.save` state dicts; originally ported from David Sandberg's facenet / Kaipeng Zhang's",
        "  MTCNN Caffe models). Project: https://github.com/timesler/facenet-pytorch",
        "- Licence: MIT (see `LICENSE`, copied from the wheel's dist-info).",
        "- Converted by `scripts/convert_mtcnn.py`: keys unchanged, float32, safetensors.",
        "",
        "| file | sha256 | source file | source sha256 | tensors | parameters |",
        "|---|---|---|---|---|---|",
    ]
    for net, src, dst, n, p in rows:
        lines.append(f"| `{dst.name}` | `{sha256(dst)}` | `{net}.pt` | `{sha256(src)}` | {n} | {p} |")
    (out / "SOURCE.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
