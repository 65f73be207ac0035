#!/usr/bin/env python3
"""Parity fixtures for src/faces/mtcnn.rs: facenet-pytorch 2.6.0 MTCNN with its real weights.

Writes to --out:
  images/*.png        the test images (astronaut variants, a 4-face mosaic, a face-free gradient)
  detections.json     MTCNN(keep_all=True).detect(..., landmarks=True) per image: boxes, probs,
                      landmarks, in facenet's order (largest box first); also the CPU time of one
                      astronaut detection (for the report, never asserted)
  nets.safetensors    P/R/O-Net outputs on random inputs (layer-level parity)
  done.stamp          last
Images of one size are detected in one batched call, as the Rust side does.
"""
import argparse
import json
import pathlib
import sys
import time
import types

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.torch import save_file

# facenet_pytorch/__init__ imports InceptionResnetV1, which imports `requests` only to download
# its own weights; MTCNN needs neither, so a stub keeps `requests` out of the venv.
if "requests" not in sys.modules:
    try:
        import requests  # noqa: F401
    except ImportError:
        stub = types.ModuleType("requests")
        adapters = types.ModuleType("requests.adapters")
        adapters.HTTPAdapter = object
        stub.adapters = adapters
        sys.modules["requests"] = stub
        sys.modules["requests.adapters"] = adapters

from facenet_pytorch import MTCNN  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_images(astronaut):
    a256 = astronaut.resize((256, 256), Image.BILINEAR)
    letterbox = Image.new("RGB", (1024, 768))
    letterbox.paste(astronaut.resize((768, 768), Image.BILINEAR), (128, 0))
    flip = ImageOps.mirror(astronaut)
    # Four different faces in one frame: plain, mirrored, zoomed on the head, greyscale.
    mosaic = Image.new("RGB", (512, 512))
    mosaic.paste(a256, (0, 0))
    mosaic.paste(ImageOps.mirror(a256), (256, 0))
    mosaic.paste(astronaut.crop((96, 0, 416, 320)).resize((256, 256), Image.BILINEAR), (0, 256))
    mosaic.paste(ImageOps.grayscale(a256).convert("RGB"), (256, 256))
    # No face: a smooth two-way colour gradient.
    y, x = np.mgrid[0:512, 0:512]
    grad = np.stack([x // 2, y // 2, 255 - (x + y) // 4], axis=-1).astype(np.uint8)
    noface = Image.fromarray(grad, "RGB")
    return {
        "astronaut": astronaut,
        "astronaut_256": a256,
        "astronaut_letterbox": letterbox,
        "astronaut_flip": flip,
        "mosaic": mosaic,
        "noface": noface,
    }


def to_list(boxes, probs, points):
    if boxes is None:
        return []
    return [
        {"bbox": [float(v) for v in b], "prob": float(p), "landmarks": [[float(v) for v in q] for q in pts]}
        for b, p, pts in zip(boxes, probs, points)
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)

    astronaut = Image.open(ROOT / "tests/data/astronaut.png").convert("RGB")
    images = make_images(astronaut)
    for name, im in images.items():
        im.save(out / "images" / f"{name}.png")
    # Detect from the saved files so both sides see exactly the same pixels.
    images = {name: Image.open(out / "images" / f"{name}.png").convert("RGB") for name in images}

    mtcnn = MTCNN(keep_all=True, device="cpu")
    groups = {}
    for name, im in images.items():
        groups.setdefault(im.size, []).append(name)
    results = {}
    for names in groups.values():
        boxes, probs, points = mtcnn.detect([images[n] for n in names], landmarks=True)
        for i, n in enumerate(names):
            results[n] = to_list(boxes[i], probs[i], points[i])

    # One single-image astronaut detection timed (best of 3), for the report only.
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        mtcnn.detect(images["astronaut"], landmarks=True)
        times.append(time.perf_counter() - t0)

    (out / "detections.json").write_text(
        json.dumps(
            {
                "facenet_pytorch": "2.6.0",
                "torch": torch.__version__,
                "astronaut_detect_seconds": min(times),
                "images": results,
            },
            indent=1,
        )
    )

    # Layer-level parity on random inputs in the range the pipeline feeds ((x − 127.5)/128).
    g = torch.Generator().manual_seed(1234)
    tensors = {}
    with torch.no_grad():
        x = torch.rand(2, 3, 41, 57, generator=g) * 2 - 1
        reg, prob = mtcnn.pnet(x)
        tensors.update({"pnet.input": x, "pnet.reg": reg, "pnet.prob": prob})
        x = torch.rand(7, 3, 24, 24, generator=g) * 2 - 1
        reg, prob = mtcnn.rnet(x)
        tensors.update({"rnet.input": x, "rnet.reg": reg, "rnet.prob": prob})
        x = torch.rand(7, 3, 48, 48, generator=g) * 2 - 1
        reg, landmarks, prob = mtcnn.onet(x)
        tensors.update({"onet.input": x, "onet.reg": reg, "onet.landmarks": landmarks, "onet.prob": prob})
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "nets.safetensors"))

    (out / "done.stamp").write_text("ok\n")


if __name__ == "__main__":
    main()
