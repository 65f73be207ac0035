"""The Python/PyTorch peer of `verity bench models`: what a user would run instead of Verity Desk.
facenet-pytorch MTCNN + HF transformers CLIP ViT-L/14 + timm legacy_xception / efficientnet_b4,
eager, random weights (same cost as real ones), the same shapes and image as the Rust side.
Prints one JSON object: {"rows": [{name, device, dtype, batch, ms_per_batch, faces_per_s}], ...}.
usage: python peer_bench.py --image astronaut.png [--device cpu|cuda] [--dtypes float32,float16]
                            [--batches 1,10] [--iters N] [--only mtcnn,clip,xception,effnet]
"""
import argparse, json, statistics, time
import torch
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("--image", required=True)
ap.add_argument("--device", default="cpu")
ap.add_argument("--dtypes", default="float32")
ap.add_argument("--batches", default="1,10")
ap.add_argument("--iters", type=int, default=3)
ap.add_argument("--only", default="mtcnn,clip,xception,effnet")
a = ap.parse_args()
dev = a.device
only = set(a.only.split(","))
rows = []

def sync():
    if dev.startswith("cuda"):
        torch.cuda.synchronize()

def med_ms(fn, n):
    fn(); sync()  # warm-up
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); sync(); ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)

def add(name, dtype, bs, ms):
    rows.append({"name": name, "device": dev, "dtype": dtype, "batch": bs, "ms_per_batch": round(ms, 2),
                 "faces_per_s": round(bs * 1000.0 / ms, 2)})
    print(json.dumps(rows[-1]), flush=True)

img = Image.open(a.image).convert("RGB")
if "mtcnn" in only:
    from facenet_pytorch import MTCNN
    m = MTCNN(keep_all=True, device=dev)
    add("mtcnn_detect", "float32", 1, med_ms(lambda: m.detect(img, landmarks=True), a.iters))

nets = []
if "clip" in only:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    cfg = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                           image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
                           attn_implementation="sdpa")
    clip = CLIPVisionModelWithProjection(cfg).eval().to(dev)
    nets.append(("clip_vitl14", lambda x, m=clip: m(pixel_values=x).image_embeds, clip))
import timm
if "xception" in only:
    x_ = timm.create_model("legacy_xception", pretrained=False, num_classes=0).eval().to(dev)
    nets.append(("xception_224", x_, x_))
if "effnet" in only:
    e_ = timm.create_model("efficientnet_b4", pretrained=False, num_classes=0).eval().to(dev)
    nets.append(("effnet_b4_224", e_, e_))

for dt_name in a.dtypes.split(","):
    dt = getattr(torch, dt_name)
    for name, fn, module in nets:
        module.to(dt)
        for bs in [int(b) for b in a.batches.split(",")]:
            x = torch.randn(bs, 3, 224, 224, device=dev, dtype=dt)
            with torch.inference_mode():
                add(name, dt_name, bs, med_ms(lambda: fn(x), a.iters))
print("RESULT " + json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}))
