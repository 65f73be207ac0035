"""Parity fixtures for the forensic CNNs (src/models/xception.rs, src/models/efficientnet.rs).

Builds timm's `legacy_xception`, `efficientnet_b4` and `efficientnet_b0` (pretrained=False,
num_classes=0), gives every BatchNorm random affine parameters and random running statistics so
the eval-mode BatchNorm really is exercised, and writes for each model:

  <name>.weights.safetensors   the model's state_dict, timm names unchanged (num_batches_tracked
                               included, as in a real timm checkpoint)
  <name>.io.safetensors        input_<S>, feature_map_<S>, pooled_<S> for each input size S
                               (eval mode); for efficientnet_b0 also the train-mode outputs
                               (train_feature_map_224) and the running stats of `bn2` after that
                               one train-mode step (train_bn2_running_mean / _var)

Usage: cnn_ref.py --out DIR [--models legacy_xception,efficientnet_b4,efficientnet_b0]
"""
import argparse
import copy
import json
import os

import timm
import torch
from safetensors.torch import save_file

# (model name, [(batch, input side)]): batch 2 at 224² for all (the face crop size of the
# pipeline); Xception also at its native 299².
CASES = {
    "legacy_xception": [(2, 224), (1, 299)],
    "efficientnet_b4": [(2, 224)],
    "efficientnet_b0": [(2, 224)],
}


def randomise_batchnorm(model: torch.nn.Module, gen: torch.Generator, side: int) -> None:
    """Random affine parameters and random, data-shaped running statistics for every BatchNorm.

    timm's random init (kaiming fan-out, which is tiny for depthwise convs) with unit running
    stats makes the signal vanish through these deep networks: the output would then be the
    last BatchNorm's constant and parity would prove little. So the running stats are first
    calibrated on one random batch (momentum=None → exactly that batch's mean / unbiased var),
    then perturbed (mean shifted by 0.1 σ, var scaled by U(0.5, 2)); affine weight ~ U(0.5, 1),
    bias ~ N(0, 0.1). Eval-mode BatchNorm is thus really exercised with non-trivial statistics
    and activations stay O(1).
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            n = m.num_features
            m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
            m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
            m.reset_running_stats()
            m.momentum = None
        model.train()
        model.forward_features(torch.randn(4, 3, side, side, generator=gen))
        for m in bns:
            n = m.num_features
            std = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(n, generator=gen) * 0.1 * std)
            m.running_var.mul_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.momentum = 0.1
            m.num_batches_tracked.fill_(7)
    model.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(CASES))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    summary = {}
    for name in args.models.split(","):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1234)
        model = timm.create_model(name, pretrained=False, num_classes=0)
        randomise_batchnorm(model, gen, CASES[name][0][1])
        sd = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(sd, os.path.join(args.out, f"{name}.weights.safetensors"))

        io = {}
        for batch, side in CASES[name]:
            x = torch.randn(batch, 3, side, side, generator=gen)
            with torch.no_grad():
                fmap = model.forward_features(x)
                pooled = model.forward_head(fmap, pre_logits=True)
                # num_classes=0 → forward() is the pooled features; keep that contract checked.
                assert torch.equal(pooled, model(x))
            io[f"input_{side}"] = x
            io[f"feature_map_{side}"] = fmap.contiguous()
            io[f"pooled_{side}"] = pooled.contiguous()
            summary[f"{name}/{side}"] = {
                "feature_map": list(fmap.shape),
                "fmap_abs_max": float(fmap.abs().max()),
                "fmap_abs_mean": float(fmap.abs().mean()),
                "pooled_abs_max": float(pooled.abs().max()),
                # how much the output depends on the input (vs. a constant from the last BN)
                "fmap_sample_spread": float((fmap[0] - fmap[-1]).abs().max())
                if batch > 1
                else None,
            }

        if name == "efficientnet_b0":
            # One train-mode step on a copy: BatchNorm uses batch statistics and updates its
            # running stats (momentum 0.1); dropout/drop-path rates are 0 for these models.
            train_model = copy.deepcopy(model).train()
            x = io["input_224"]
            with torch.no_grad():
                io["train_feature_map_224"] = train_model.forward_features(x).contiguous()
            io["train_bn2_running_mean"] = train_model.bn2.running_mean.clone()
            io["train_bn2_running_var"] = train_model.bn2.running_var.clone()

        save_file(io, os.path.join(args.out, f"{name}.io.safetensors"))

    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(args.out, "done.stamp"), "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
