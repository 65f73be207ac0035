"""Parity fixtures for the detector (src/models/{detector,fusion,head}.rs).

Builds, with random weights, in PyTorch:
  * the seed's fusion detector: a tiny CLIP vision tower with projection (transformers
    `CLIPVisionModelWithProjection`, the Rust `ClipConfig::tiny()` numbers) + timm
    `efficientnet_b0` (num_classes=0) + the fusion and MLP head re-implemented below exactly as in
    fusion.rs / head.rs — once per fusion mode (concat, weighted:0.3, slerp:0.7);
  * GenD's layout (`github:yermandy/GenD`, src/hf/modeling_gend.py): `feature_extractor.
    {vision_model, visual_projection}` + `model.linear` (2 logits, p = softmax[:, 1]), with head
    "linear" and "LinearNorm".

Writes into --out:
  inputs.safetensors            faces_u8 [B,224,224,3] uint8 (random "aligned faces"), clip_pixels
                                (CLIP mean/std) and cnn_pixels (ImageNet mean/std), float32 [B,3,224,224]
  <case>/weights.safetensors    every tensor under the detector's variable names
  <case>/clip.safetensors       (fusion cases) the vision tower under HF names, as a CLIP base file
  <case>/cnn.safetensors        (fusion cases) the CNN under timm names (with num_batches_tracked)
  <case>/rest.safetensors       (fusion cases) fusion.* and head.*
  <case>/expected.safetensors   logit, prob [B]; clip_emb, cnn_emb, fused
  layouts/*.safetensors         the exact names and shapes of the published full-size checkpoints
                                (openai/clip-vit-large-patch14 CLIPModel incl. text tower and the
                                position_ids buffers older files carry; timm efficientnet_b4 and
                                legacy_xception incl. classifier; GenD_CLIP_L_14), built on the meta
                                device and written as SPARSE files of zeros: they prove the strict
                                loader accepts those layouts without downloading gigabytes
  summary.json                  case list and magnitudes
  done.stamp

Usage: detector_ref.py --out DIR
"""
import argparse
import json
import os

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

BATCH = 3
SIZE = 224
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
PARALLEL_EPS = 1e-6  # fusion.rs PARALLEL_EPS


def tiny_clip_config() -> CLIPVisionConfig:
    """`ClipConfig::tiny()` of src/models/clip.rs (vision tower + projection)."""
    return CLIPVisionConfig(
        image_size=224,
        patch_size=14,
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        layer_norm_eps=1e-5,
        hidden_act="quick_gelu",
        projection_dim=32,
    )


def slerp(a, b, t):
    """fusion.rs `slerp`: row-wise, lerp where |cos| > 1 - PARALLEL_EPS."""
    cos = (a * b).sum(1, keepdim=True)
    near = cos.abs() > 1 - PARALLEL_EPS
    safe = torch.where(near, torch.zeros_like(cos), cos)
    omega = torch.acos(safe)
    sin = torch.sin(omega)
    wa = torch.sin(omega * (1 - t)) / sin
    wb = torch.sin(omega * t) / sin
    wa = torch.where(near, torch.full_like(cos, 1 - t), wa)
    wb = torch.where(near, torch.full_like(cos, t), wb)
    return a * wa + b * wb


class Fusion(nn.Module):
    """fusion.rs `Fusion` (variables fusion.clip_proj, fusion.cnn_proj)."""

    def __init__(self, mode, arg, clip_dim, cnn_dim, fusion_dim):
        super().__init__()
        self.mode, self.arg = mode, arg
        if mode != "concat":
            self.clip_proj = nn.Linear(clip_dim, fusion_dim)
            self.cnn_proj = nn.Linear(cnn_dim, fusion_dim)

    def forward(self, clip, cnn):
        if self.mode == "concat":
            return torch.cat([clip, cnn], 1)
        a, b = self.clip_proj(clip), self.cnn_proj(cnn)
        if self.mode == "weighted":
            return b * self.arg + a * (1 - self.arg)
        return slerp(F.normalize(a, dim=1), F.normalize(b, dim=1), self.arg)


class Head(nn.Module):
    """head.rs `Head`: fc1 → exact GELU → dropout → fc2 → sigmoid."""

    def __init__(self, in_dim, hidden, p):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act = nn.GELU()
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        logit = self.fc2(self.drop(self.act(self.fc1(x)))).squeeze(1)
        return logit, torch.sigmoid(logit)


class FusionDetector(nn.Module):
    def __init__(self, mode, arg, fusion_dim=64, head_hidden=32):
        super().__init__()
        clip = CLIPVisionModelWithProjection(tiny_clip_config())
        # Same variable names as detector.rs: vision_model.* and visual_projection.* at the root.
        self.vision_model = clip.vision_model
        self.visual_projection = clip.visual_projection
        self.cnn = timm.create_model("efficientnet_b0", pretrained=False, num_classes=0)
        self.fusion = Fusion(mode, arg, 32, self.cnn.num_features, fusion_dim)
        self.head = Head(self.fusion_out(mode, fusion_dim), head_hidden, 0.1)

    def fusion_out(self, mode, fusion_dim):
        return 32 + self.cnn.num_features if mode == "concat" else fusion_dim

    def forward(self, clip_pixels, cnn_pixels):
        pooled = self.vision_model(pixel_values=clip_pixels).pooler_output
        clip_emb = self.visual_projection(pooled)
        cnn_emb = self.cnn(cnn_pixels)  # num_classes=0: global-average-pooled features
        fused = self.fusion(clip_emb, cnn_emb)
        logit, prob = self.head(fused)
        return dict(logit=logit, prob=prob, clip_emb=clip_emb, cnn_emb=cnn_emb, fused=fused)


class FeatureExtractor(nn.Module):
    """GenD's CLIPEncoder: the vision model and (unused) projection of a CLIPModel."""

    def __init__(self):
        super().__init__()
        clip = CLIPVisionModelWithProjection(tiny_clip_config())
        self.vision_model = clip.vision_model
        self.visual_projection = clip.visual_projection


class LinearProbe(nn.Module):
    def __init__(self, dim, normalize):
        super().__init__()
        self.linear = nn.Linear(dim, 2)
        self.normalize = normalize

    def forward(self, x):
        return self.linear(F.normalize(x, p=2, dim=1) if self.normalize else x)


class GenD(nn.Module):
    def __init__(self, normalize):
        super().__init__()
        self.feature_extractor = FeatureExtractor()
        self.model = LinearProbe(64, normalize)

    def forward(self, clip_pixels, _cnn_pixels=None):
        pooled = self.feature_extractor.vision_model(pixel_values=clip_pixels).pooler_output
        logits = self.model(pooled)
        prob = logits.softmax(-1)[:, 1]
        fused = F.normalize(pooled, p=2, dim=1) if self.model.normalize else pooled
        return dict(logit=logits[:, 1] - logits[:, 0], prob=prob, clip_emb=pooled, fused=fused)


def randomise(model, gen, clip_pixels, cnn_pixels):
    """Random, non-trivial parameters everywhere, so parity proves something.

    CLIP: transformers' init is already random (std 0.02·factor); LayerNorms get random affine
    parameters too. BatchNorm (timm's init + unit running stats would make the CNN output the
    last BatchNorm's constant): running stats calibrated on this batch, then perturbed; affine
    weight ~ U(0.5, 1), bias ~ N(0, 0.1). Linear layers of fusion/head: PyTorch's default init,
    the last layer (head.fc2 / GenD's linear probe) scaled ×20 so the probabilities spread away
    from 0.5 and the comparison is not made near a flat sigmoid.
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            n = m.num_features
            m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
            m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            m.reset_running_stats()
            m.momentum = None
        if bns:
            model.cnn.train()
            model.cnn(cnn_pixels)
            for m in bns:
                n = m.num_features
                std = m.running_var.sqrt()
                m.running_mean.add_(torch.randn(n, generator=gen) * 0.1 * std)
                m.running_var.mul_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.momentum = 0.1
                m.num_batches_tracked.fill_(5)
        if isinstance(model, GenD):
            model.model.linear.weight.mul_(20.0)
        else:
            model.head.fc2.weight.mul_(20.0)
    model.eval()


def write_sparse(path, shapes):
    """A safetensors file with these {name: (dtype, shape)} and all-zero data left as a hole."""
    sizes = {"F32": 4, "I64": 8}
    header, offset = {}, 0
    for name, (dtype, shape) in shapes.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        f.truncate(8 + len(raw) + offset)


def shapes_of(state_dict):
    return {k: ("I64" if v.dtype == torch.int64 else "F32", tuple(v.shape)) for k, v in state_dict.items()}


def layouts(out):
    from transformers import CLIPConfig, CLIPModel

    os.makedirs(out, exist_ok=True)
    with torch.device("meta"):
        clip = CLIPModel(
            CLIPConfig(
                text_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                 max_position_embeddings=77, vocab_size=49408, hidden_act="quick_gelu"),
                vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                                   patch_size=14, image_size=224, hidden_act="quick_gelu"),
                projection_dim=768,
            )
        )
        sd = shapes_of(clip.state_dict())
        # Files saved by older transformers (the hub's) carry these buffers.
        sd["text_model.embeddings.position_ids"] = ("I64", (1, 77))
        sd["vision_model.embeddings.position_ids"] = ("I64", (1, 257))
        write_sparse(os.path.join(out, "clip-vit-large-patch14.safetensors"), sd)
        gend = {f"feature_extractor.{k}": v for k, v in sd.items() if k.startswith(("vision_model.", "visual_projection."))}
        gend["model.linear.weight"] = ("F32", (2, 1024))
        gend["model.linear.bias"] = ("F32", (2,))
        write_sparse(os.path.join(out, "gend-clip-l14.safetensors"), gend)
        for name in ["efficientnet_b4", "legacy_xception"]:
            cnn = timm.create_model(name, pretrained=False)  # with its ImageNet classifier
            write_sparse(os.path.join(out, f"{name}.safetensors"), shapes_of(cnn.state_dict()))


def save(path, tensors):
    save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    gen = torch.Generator().manual_seed(2026)
    faces = torch.randint(0, 256, (BATCH, SIZE, SIZE, 3), generator=gen, dtype=torch.uint8)
    # Smooth the noise a little so the faces have image-like structure for the convolutions.
    x = faces.permute(0, 3, 1, 2).float()
    x = F.avg_pool2d(x, 5, stride=1, padding=2, count_include_pad=False)
    faces = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    unit = faces.permute(0, 3, 1, 2).float() / 255.0
    clip_pixels = (unit - CLIP_MEAN) / CLIP_STD
    cnn_pixels = (unit - IMAGENET_MEAN) / IMAGENET_STD
    save(os.path.join(args.out, "inputs.safetensors"), dict(faces_u8=faces, clip_pixels=clip_pixels, cnn_pixels=cnn_pixels))

    cases = {
        "concat": lambda: FusionDetector("concat", None),
        "weighted": lambda: FusionDetector("weighted", 0.3),
        "slerp": lambda: FusionDetector("slerp", 0.7),
        "gend_linear": lambda: GenD(False),
        "gend_norm": lambda: GenD(True),
    }
    summary = {}
    for i, (name, make) in enumerate(cases.items()):
        torch.manual_seed(100 + i)
        model = make()
        randomise(model, gen, clip_pixels, cnn_pixels)
        with torch.no_grad():
            out = model(clip_pixels, cnn_pixels)
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        sd = model.state_dict()
        # transformers may keep position_ids as a buffer; the Rust model has no such variable
        # (the loader ignores *.position_ids explicitly), so the full file is written without it.
        save(os.path.join(d, "weights.safetensors"), {k: v for k, v in sd.items() if not k.endswith("position_ids")})
        if isinstance(model, FusionDetector):
            save(os.path.join(d, "clip.safetensors"), {k: v for k, v in sd.items() if k.startswith(("vision_model.", "visual_projection."))})
            save(os.path.join(d, "cnn.safetensors"), {k[len("cnn."):]: v for k, v in sd.items() if k.startswith("cnn.")})
            save(os.path.join(d, "rest.safetensors"), {k: v for k, v in sd.items() if k.startswith(("fusion.", "head."))})
        save(os.path.join(d, "expected.safetensors"), out)
        summary[name] = {
            "prob": out["prob"].tolist(),
            "clip_emb_absmax": out["clip_emb"].abs().max().item(),
            "cnn_emb_absmax": out["cnn_emb"].abs().max().item() if "cnn_emb" in out else None,
            "fused_absmax": out["fused"].abs().max().item(),
        }
    layouts(os.path.join(args.out, "layouts"))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    open(os.path.join(args.out, "done.stamp"), "w").write("ok\n")


if __name__ == "__main__":
    main()
