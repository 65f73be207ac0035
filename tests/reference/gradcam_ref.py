"""Reference Grad-CAM and attention rollout for src/explain/gradcam.rs.

Grad-CAM as pytorch-grad-cam computes it (Selvaraju et al. 2017): for a target layer's
activations A and a score y, weights = mean over positions of dy/dA, cam = ReLU(sum_c w_c A_c);
for a ViT the patch tokens (CLS dropped) are laid out on the grid and the token width plays the
channels (pytorch-grad-cam's `reshape_transform`). The heat-map is the raw cam up-sampled
bilinearly (align_corners=False, as cv2.resize) to the crop size and min-max normalised.
Attention rollout (Abnar & Zuidema 2020): head-mean attention, (A + I) / 2 with rows
re-normalised, multiplied through the layers; the CLS row over the patches.

The networks and their random weights are made as the networks' own parity fixtures make them
(cnn_ref.py: timm with randomised BatchNorm statistics; clip_ref.py: transformers CLIP with
perturbed biases and LayerNorms), and a random linear head turns their features into the score:

  --what cnn --model efficientnet_b0   score = pooled features @ w + b (w orthogonal to the
                                       mean activation, so the cam is neither 0 nor linear)
  --what vit --config-json '<ClipConfig JSON>' [--layer N]
                                       score = pooler_output (post-LN CLS) @ w + b;
                                       target = hidden_states[N] (default num_layers - 1)

Files: weights.safetensors (the network's state_dict), inputs.safetensors (input, head_weight,
head_bias), expected.safetensors (score, cam_raw, heat[, rollout_raw, rollout_heat]),
meta.json, done.stamp (last).
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def heat(raw, side):
    up = F.interpolate(raw[:, None], size=(side, side), mode="bilinear", align_corners=False)[:, 0]
    flat = up.flatten(1)
    lo = flat.min(1).values[:, None, None]
    hi = flat.max(1).values[:, None, None]
    span = hi - lo
    return torch.where(span > 0, (up - lo) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(up))


def grad_cam(activations, score):
    """activations [B, C, h, w] in the graph of score [B]."""
    (grads,) = torch.autograd.grad(score.sum(), activations)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activations).sum(1))


def cnn_case(out, model_name, batch, side, gen):
    import timm
    from cnn_ref import randomise_batchnorm

    torch.manual_seed(0)
    model = timm.create_model(model_name, pretrained=False, num_classes=0)
    randomise_batchnorm(model, gen, side)
    model.eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(out, "weights.safetensors"))
    c = model.num_features
    w = torch.randn(c, generator=gen) / c ** 0.5
    b = torch.randn(1, generator=gen)
    x = torch.randn(batch, 3, side, side, generator=gen)
    # The cam of a linear head is ReLU of the per-position score density sum_c w_c A_c. Random
    # BatchNorm statistics give every channel an offset that dominates that density, so with
    # a plain random w the cam is all zeros (or all positive) and parity would test little.
    # Remove the head's component along the mean activation: the density then has both signs.
    with torch.no_grad():
        m = model.forward_features(x).mean(dim=(0, 2, 3))
        w = w - (w @ m) / (m @ m) * m
    t0 = time.time()
    fmap = model.forward_features(x)
    score = fmap.mean(dim=(2, 3)) @ w + b
    raw = grad_cam(fmap, score).detach()
    seconds = time.time() - t0
    save_file({"input": x, "head_weight": w, "head_bias": b}, os.path.join(out, "inputs.safetensors"))
    save_file({"score": score.detach().contiguous(), "cam_raw": raw.contiguous(),
               "heat": heat(raw, side).contiguous()}, os.path.join(out, "expected.safetensors"))
    return {"model": model_name, "feature_map": list(fmap.shape), "seconds_gradcam": seconds,
            "cam_max": float(raw.max()), "cam_mean": float(raw.mean()),
            "cam_zero_fraction": float((raw == 0).float().mean())}


def vit_case(out, cfg, batch, layer, gen):
    from transformers import CLIPVisionModelWithProjection
    from clip_ref import hf_vision_config, perturb

    torch.manual_seed(0)
    vcfg = hf_vision_config(cfg["vision"], cfg["projection_dim"])
    vcfg._attn_implementation = "eager"
    model = CLIPVisionModelWithProjection(vcfg)
    model.eval()
    perturb(model)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(out, "weights.safetensors"))
    v = cfg["vision"]
    d, side, grid = v["hidden_size"], v["image_size"], v["image_size"] // v["patch_size"]
    layers = v["num_hidden_layers"]
    layer = layers - 1 if layer is None else layer
    w = torch.randn(d, generator=gen) / d ** 0.5
    b = torch.randn(1, generator=gen)
    x = torch.randn(batch, 3, side, side, generator=gen)
    t0 = time.time()
    o = model.vision_model(pixel_values=x, output_hidden_states=True, output_attentions=True)
    score = o.pooler_output @ w + b
    tokens = o.hidden_states[layer]
    patches = tokens[:, 1:, :].reshape(batch, grid, grid, d).permute(0, 3, 1, 2)
    (grads,) = torch.autograd.grad(score.sum(), tokens)
    gpatch = grads[:, 1:, :].reshape(batch, grid, grid, d).permute(0, 3, 1, 2)
    raw = torch.relu((gpatch.mean(dim=(2, 3), keepdim=True) * patches).sum(1)).detach()
    seconds = time.time() - t0

    with torch.no_grad():
        t = o.attentions[0].shape[-1]
        eye = torch.eye(t)
        result = eye.expand(batch, t, t).clone()
        for a in o.attentions:
            a = (a.mean(1) + eye) / 2
            a = a / a.sum(-1, keepdim=True)
            result = a @ result
        rollout = result[:, 0, 1:].reshape(batch, grid, grid)

    save_file({"input": x, "head_weight": w, "head_bias": b}, os.path.join(out, "inputs.safetensors"))
    save_file({"score": score.detach().contiguous(), "cam_raw": raw.contiguous(),
               "heat": heat(raw, side).contiguous(), "rollout_raw": rollout.contiguous(),
               "rollout_heat": heat(rollout, side).contiguous()},
              os.path.join(out, "expected.safetensors"))
    return {"layer": layer, "grid": grid, "seconds_gradcam": seconds, "cam_max": float(raw.max()),
            "cam_zero_fraction": float((raw == 0).float().mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--what", choices=["cnn", "vit"], required=True)
    ap.add_argument("--model", default="efficientnet_b0")
    ap.add_argument("--config-json")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--side", type=int, default=224)
    ap.add_argument("--layer", type=int)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    gen = torch.Generator().manual_seed(4321)
    if args.what == "cnn":
        meta = cnn_case(args.out, args.model, args.batch, args.side, gen)
    else:
        meta = vit_case(args.out, json.loads(args.config_json), args.batch, args.layer, gen)
    meta["torch"] = torch.__version__
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))
    with open(os.path.join(args.out, "done.stamp"), "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
