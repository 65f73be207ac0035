"""Parity fixtures for GenD's face preprocessing (src/faces/{resize,align,preprocess}.rs).

Our own reference of GenD's published inference recipe (github:yermandy/GenD, `detector.py`
`align_face` with target_size=None, `app/run.py`), written with the real libraries:
  * OpenCV (opencv-python-headless): `cv2.estimateAffinePartial2D(..., method=cv2.LMEDS)` and
    `cv2.warpAffine(..., INTER_LINEAR)` (constant black border);
  * Pillow `Image.resize(BICUBIC | BILINEAR)`;
  * transformers' Pillow-backed CLIP image processor (`CLIPImageProcessorPil` — in transformers 5
    the class named `CLIPImageProcessor` is the torchvision-backed one) configured exactly as the
    `openai/clip-vit-large-patch14` preprocessor_config.json says (shortest edge 224, bicubic,
    centre crop 224, 1/255, OpenAI CLIP mean/std): constructed from those numbers, nothing is
    downloaded.

Writes into --out:
  resize.safetensors   20 random RGB images × (down, up) × (bicubic, bilinear) through Pillow
  fit.safetensors      300 landmark sets (half with one landmark off) → estimateAffinePartial2D LMEDS
  warp.safetensors     random images and similarities → warpAffine
  chain.safetensors    the astronaut photo + 12 generated frames (the face scaled 0.3×–3×, rotated
                       ±30°, landmark noise, one outlier): frame, landmarks, native crop and the
                       3×224×224 CLIP input of the full GenD chain
  summary.json         case list, sizes, and the torchvision-backed processor's distance from the
                       Pillow one (information, not asserted)
  done.stamp

With --gend-full DIR --image PNG --landmarks JSON (a list of 5-point sets) it instead writes a
random-weight GenD checkpoint in the published layout (394 tensors, fp32, no position_ids,
config.json head "LinearNorm") into DIR and the reference probabilities of the given faces
(cv2 + Pillow + CLIP processor + transformers CLIP vision + L2 norm + linear + softmax[:, 1]) into
DIR/expected.json.
"""
import argparse
import json
import math
import os

import cv2
import numpy as np
from PIL import Image
from safetensors.numpy import save_file

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
GEND_TEMPLATE = np.array(
    [[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]], dtype=np.float32
)
# facenet-pytorch MTCNN's landmarks of the astronaut (tests/data/astronaut.png).
ASTRONAUT_LANDMARKS = np.array(
    [[205.01091, 101.727463], [246.762573, 103.714081], [224.671356, 128.964996],
     [201.716110, 139.246185], [245.265487, 141.857025]], dtype=np.float32
)


def clip_processor(backend="pil"):
    kw = dict(
        do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True,
        crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, do_convert_rgb=True,
    )
    if backend == "pil":
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        return CLIPImageProcessorPil(**kw)
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(**kw)


def gend_align(img, landmarks, scale=1.3):
    """GenD's align_face with target_size=None, on an RGB uint8 image (the warp is per channel,
    so RGB and BGR give the same pixels). Returns the native-size crop and the 2×3 matrix."""
    dst = GEND_TEMPLATE.copy()
    lm = landmarks.astype(np.float32)
    desired = np.linalg.norm(lm[:, None, :] - lm[None, :, :], axis=-1)
    unit = np.linalg.norm(dst[:, None, :] - dst[None, :, :], axis=-1)
    iu = np.triu_indices(5, k=1)
    side = int(np.round(np.mean(desired[iu] / unit[iu]) * scale))
    size = (side, side)
    dst[:, 0] = dst[:, 0] * size[0]
    dst[:, 1] = dst[:, 1] * size[1]
    margin = scale - 1
    xm, ym = size[0] * margin / 2.0, size[1] * margin / 2.0
    dst[:, 0] += xm
    dst[:, 1] += ym
    dst[:, 0] *= size[0] / (size[0] + 2 * xm)
    dst[:, 1] *= size[1] / (size[1] + 2 * ym)
    m = cv2.estimateAffinePartial2D(lm, dst, method=cv2.LMEDS)[0]
    crop = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR)
    return crop, m


def gend_pixels(img, landmarks, processor):
    crop, m = gend_align(img, landmarks)
    px = processor(images=Image.fromarray(crop), return_tensors="np")["pixel_values"][0]
    return crop, m, px.astype(np.float32)


def similarity(scale, angle_deg, cx, cy, tx, ty):
    """Rotate/scale about (cx, cy), then move that point to (tx, ty): a 2×3 matrix."""
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return np.array([[c, -s, tx - (c * cx - s * cy)], [s, c, ty - (s * cx + c * cy)]], dtype=np.float64)


def apply(m, pts):
    return (pts.astype(np.float64) @ m[:, :2].T + m[:, 2]).astype(np.float32)


def resize_cases(rng):
    out, cases = {}, []
    for i in range(20):
        h, w = int(rng.integers(6, 400)), int(rng.integers(6, 400))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 2:  # smooth content too: real faces are not white noise
            img = cv2.GaussianBlur(img, (0, 0), 3)
        out[f"r{i}.src"] = img
        targets = {
            "down": (max(1, int(w * rng.uniform(0.1, 0.9))), max(1, int(h * rng.uniform(0.1, 0.9)))),
            "up": (int(w * rng.uniform(1.1, 3.0)), int(h * rng.uniform(1.1, 3.0))),
            "mixed": (max(1, int(w * rng.uniform(0.3, 0.9))), int(h * rng.uniform(1.1, 2.5))),
        }
        for name, (tw, th) in targets.items():
            for fname, f in (("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)):
                key = f"r{i}.{name}.{fname}"
                out[key] = np.asarray(Image.fromarray(img).resize((tw, th), f))
                cases.append(dict(key=key, src=f"r{i}.src", filter=fname, width=tw, height=th))
    return out, cases


def fit_cases(rng, n=300):
    srcs, dsts, ms, outlier = [], [], [], []
    for t in range(n):
        dst = GEND_TEMPLATE * np.float32(rng.uniform(20, 900))
        s, ang = rng.uniform(0.1, 5.0), rng.uniform(-40, 40)
        m = similarity(s, ang, 0, 0, rng.uniform(-500, 1500), rng.uniform(-500, 1500))
        src = apply(m, dst) + rng.normal(0, rng.uniform(0, 2.0), (5, 2)).astype(np.float32) * np.float32(s)
        off = t % 2 == 1
        if off:
            src[rng.integers(5)] += (rng.uniform(-0.25, 0.25, 2) * np.ptp(dst[:, 0]) * s).astype(np.float32)
        src = src.astype(np.float32)
        mm = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)[0]
        srcs.append(src), dsts.append(dst.astype(np.float32)), ms.append(mm), outlier.append(off)
    return {"src": np.stack(srcs), "dst": np.stack(dsts), "m": np.stack(ms).astype(np.float64),
            "outlier": np.array(outlier, dtype=np.uint8)}


def warp_cases(rng):
    out, cases = {}, []
    for i in range(8):
        h, w = int(rng.integers(20, 300)), int(rng.integers(20, 300))
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ow, oh = int(rng.integers(10, 400)), int(rng.integers(10, 400))
        m = similarity(rng.uniform(0.2, 4), rng.uniform(-180, 180), w / 2, h / 2, ow / 2 + rng.uniform(-40, 40),
                       oh / 2 + rng.uniform(-40, 40))
        out[f"w{i}.src"], out[f"w{i}.m"] = img, m
        out[f"w{i}.out"] = cv2.warpAffine(img, m, (ow, oh), flags=cv2.INTER_LINEAR)
        cases.append(dict(key=f"w{i}", width=ow, height=oh))
    return out, cases


def chain_cases(rng, astronaut, processor, tv_processor):
    frames = [(astronaut, ASTRONAUT_LANDMARKS.copy(), "astronaut photo as is")]
    scales = [0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7, 2.0, 2.4, 2.7, 3.0, 1.1]
    sizes = [(640, 360), (1280, 720), (960, 540), (1280, 720)]
    cx, cy = ASTRONAUT_LANDMARKS.mean(0)
    for i, s in enumerate(scales):
        w, h = sizes[i % len(sizes)]
        ang = float(rng.uniform(-30, 30))
        m = similarity(s, ang, cx, cy, rng.uniform(0.3, 0.7) * w, rng.uniform(0.35, 0.65) * h)
        frame = cv2.warpAffine(astronaut, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        lm = apply(m, ASTRONAUT_LANDMARKS) + rng.normal(0, 0.6, (5, 2)).astype(np.float32) * np.float32(s)
        note = f"scale {s}, rotation {ang:.1f}°, {w}×{h}"
        if i == 5:  # a mouth corner off by a fifth of the face: LMedS must outvote it
            lm[3] += np.float32([-0.2, 0.1]) * np.float32(40 * s)
            note += ", one landmark off"
        frames.append((frame, lm.astype(np.float32), note))
    out, cases, tv = {}, [], []
    for i, (frame, lm, note) in enumerate(frames):
        crop, m, px = gend_pixels(frame, lm, processor)
        out[f"c{i}.frame"], out[f"c{i}.lm"], out[f"c{i}.crop"] = frame, lm, crop
        out[f"c{i}.m"], out[f"c{i}.pixels"] = m, px
        tvpx = tv_processor(images=Image.fromarray(crop), return_tensors="np")["pixel_values"][0]
        d = np.abs(tvpx - px)
        tv.append(dict(mean=float(d.mean()), max=float(d.max())))
        cases.append(dict(key=f"c{i}", note=note, native=int(crop.shape[0])))
    return out, cases, tv


def gend_full(out, image, landmark_sets):
    import torch
    import torch.nn.functional as F
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    cfg = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                           patch_size=14, image_size=224, hidden_act="quick_gelu", projection_dim=768)
    clip = CLIPVisionModelWithProjection(cfg).eval()
    gen = torch.Generator().manual_seed(1)
    linear = torch.nn.Linear(1024, 2)
    with torch.no_grad():
        for mod in clip.modules():  # random LayerNorm affines: parity must prove something
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) * 0.5 + 0.75)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.1)
        linear.weight.copy_(torch.randn(2, 1024, generator=gen))  # logits O(1): p away from 0 and 1
        linear.bias.copy_(torch.randn(2, generator=gen) * 0.1)
    sd = {f"feature_extractor.{k}": v for k, v in clip.state_dict().items() if not k.endswith("position_ids")}
    sd["model.linear.weight"], sd["model.linear.bias"] = linear.weight, linear.bias
    assert len(sd) == 394, len(sd)
    from safetensors.torch import save_file as save_torch

    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.safetensors")
    save_torch({k: v.detach().contiguous() for k, v in sd.items()}, path, metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["GenD"], "backbone": "openai/clip-vit-large-patch14", "head": "LinearNorm",
                   "model_type": "GenD", "torch_dtype": "float32"}, f, indent=2)
    img = np.asarray(Image.open(image).convert("RGB"))
    processor = clip_processor("pil")
    probs, pixels = [], []
    for lm in landmark_sets:
        _, _, px = gend_pixels(img, np.array(lm, dtype=np.float32), processor)
        pixels.append(px)
    with torch.no_grad():
        x = torch.from_numpy(np.stack(pixels))
        pooled = clip.vision_model(pixel_values=x).pooler_output
        logits = linear(F.normalize(pooled, p=2, dim=1))
        probs = logits.softmax(-1)[:, 1].tolist()
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"prob": probs, "file_size": os.path.getsize(path), "tensors": len(sd)}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gend-full", action="store_true")
    ap.add_argument("--image")
    ap.add_argument("--landmarks")
    args = ap.parse_args()
    if args.gend_full:
        gend_full(args.out, args.image, json.loads(args.landmarks))
        return
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20261129)
    here = os.path.dirname(os.path.abspath(__file__))
    astronaut = np.asarray(Image.open(os.path.join(here, "..", "data", "astronaut.png")).convert("RGB"))
    rs, rcases = resize_cases(rng)
    save_file(rs, os.path.join(args.out, "resize.safetensors"))
    save_file(fit_cases(rng), os.path.join(args.out, "fit.safetensors"))
    ws, wcases = warp_cases(rng)
    save_file(ws, os.path.join(args.out, "warp.safetensors"))
    cs, ccases, tv = chain_cases(rng, astronaut, clip_processor("pil"), clip_processor("torchvision"))
    save_file(cs, os.path.join(args.out, "chain.safetensors"))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"resize": rcases, "warp": wcases, "chain": ccases, "torchvision_vs_pil": tv,
                   "versions": {"opencv": cv2.__version__, "pillow": Image.__version__}}, f, indent=1)
    open(os.path.join(args.out, "done.stamp"), "w").write("ok\n")


if __name__ == "__main__":
    main()
