"""Reference values for src/train/losses.rs and src/train/metrics.rs.

Losses in PyTorch (float32), written independently of the Rust code:
  - BCE: F.binary_cross_entropy_with_logits
  - alignment / uniformity: as in the LNCLIP-DF authors' `src/losses/unifalign.py`
    (github:yermandy/GenD): same-label pairs i<j, ||x-y||^alpha; torch.pdist -> log mean exp(-t d^2)
  - supervised contrastive (Khosla et al. 2020, L_out): an explicit loop over anchors
  - image-text: F.cross_entropy(scale * cos(emb, text), labels)
  - SLERP: the textbook formula row by row in float64, cast to float32
  - gradients of the weighted total w.r.t. the raw embeddings and the logits, by autograd
Metrics in numpy (float64): AUC by counting pairs, ROC/EER/AP over unique thresholds, ECE with
15 bins (b/15, (b+1)/15], accuracy at thresholds, review-band share.

AdamW: torch.optim.AdamW (foreach=False) over 4 steps with given gradients and learning rates,
one parameter group with weight decay and one without.

Usage: losses_ref.py --out DIR. Writes losses.safetensors, adamw.safetensors,
metrics.safetensors, done.stamp.
"""

import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ALPHA, T, TAU, SCALE = 2.0, 2.0, 0.1, 100.0
WEIGHTS = {"bce": 1.0, "alignment": 0.1, "uniformity": 0.5, "supcon": 0.3, "image_text": 0.2}


def alignment(z, labels, alpha):
    mask = (labels[:, None] == labels[None, :]).triu(diagonal=1)
    idx = torch.nonzero(mask, as_tuple=False)
    if idx.numel() == 0:
        return torch.tensor(0.0)
    return (z[idx[:, 0]] - z[idx[:, 1]]).norm(p=2, dim=1).pow(alpha).mean()


def uniformity(z, t):
    return torch.pdist(z, p=2).pow(2).mul(-t).exp().mean().clamp(min=1e-6).log()


def supcon(z, labels, tau):
    n = z.shape[0]
    sim = z @ z.T / tau
    losses = []
    for i in range(n):
        others = [a for a in range(n) if a != i]
        positives = [p for p in others if labels[p] == labels[i]]
        if not positives:
            continue
        denom = torch.logsumexp(sim[i, others], dim=0)
        losses.append(-torch.stack([sim[i, p] - denom for p in positives]).mean())
    if not losses:
        return torch.tensor(0.0)
    return torch.stack(losses).mean()


def image_text(z, text, labels, scale):
    logits = scale * F.normalize(z, dim=1) @ F.normalize(text, dim=1).T
    return F.cross_entropy(logits, labels.long())


def slerp_rows(a, b, t):
    a, b, t = a.double(), b.double(), t.double()
    out = []
    for k in range(a.shape[0]):
        cos = float((a[k] * b[k]).sum())
        if abs(cos) > 1 - 1e-6:
            out.append((1 - t[k]) * a[k] + t[k] * b[k])
            continue
        w = np.arccos(cos)
        out.append(np.sin((1 - float(t[k])) * w) / np.sin(w) * a[k] + np.sin(float(t[k]) * w) / np.sin(w) * b[k])
    return torch.stack(out).float()


def losses(out):
    g = torch.Generator().manual_seed(1234)
    n, d = 12, 16
    emb_raw = torch.randn(n, d, generator=g)
    emb_raw[5] = emb_raw[2] * 3.0  # same direction as row 2 (same label): a zero-distance pair
    labels = torch.tensor([0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 1], dtype=torch.float32)
    logits = torch.randn(n, generator=g) * 2.0
    text = torch.randn(2, d, generator=g)
    tensors = {"emb_raw": emb_raw, "labels": labels, "logits": logits, "text": text}

    z = F.normalize(emb_raw, dim=1)
    tensors["z"] = z
    tensors["bce"] = F.binary_cross_entropy_with_logits(logits, labels).reshape(1)
    tensors["alignment"] = alignment(z, labels, ALPHA).reshape(1)
    tensors["alignment_a1"] = alignment(z, labels, 1.0).reshape(1)
    tensors["uniformity"] = uniformity(z, T).reshape(1)
    tensors["supcon"] = supcon(z, labels, TAU).reshape(1)
    tensors["image_text"] = image_text(z, text, labels, SCALE).reshape(1)
    # Explicit pairs: rows 0..5 against rows 6..11.
    tensors["alignment_pairs"] = (z[:6] - z[6:]).norm(dim=1).pow(ALPHA).mean().reshape(1)
    # A batch where one class has a single member: its anchor has no positive and is skipped.
    lone = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], dtype=torch.float32)
    tensors["lone_labels"] = lone
    tensors["supcon_lone"] = supcon(z, lone, TAU).reshape(1)
    tensors["alignment_lone"] = alignment(z, lone, ALPHA).reshape(1)

    # Gradients of the weighted total through F.normalize.
    e = emb_raw.clone().requires_grad_(True)
    lg = logits.clone().requires_grad_(True)
    zz = F.normalize(e, dim=1)
    total = (
        WEIGHTS["bce"] * F.binary_cross_entropy_with_logits(lg, labels)
        + WEIGHTS["alignment"] * alignment(zz, labels, ALPHA)
        + WEIGHTS["uniformity"] * uniformity(zz, T)
        + WEIGHTS["supcon"] * supcon(zz, labels, TAU)
        + WEIGHTS["image_text"] * image_text(zz, text, labels, SCALE)
    )
    total.backward()
    tensors["total"] = total.detach().reshape(1)
    tensors["grad_emb"] = e.grad
    tensors["grad_logits"] = lg.grad

    # SLERP: random unit pairs, one parallel and one antiparallel-ish pair, t in [0,1].
    a = F.normalize(torch.randn(6, d, generator=g), dim=1)
    b = F.normalize(torch.randn(6, d, generator=g), dim=1)
    b[1] = a[1]
    t = torch.tensor([0.0, 0.3, 0.5, 0.7, 1.0, 0.25])
    tensors["slerp_a"], tensors["slerp_b"], tensors["slerp_t"] = a, b, t
    tensors["slerp"] = slerp_rows(a, b, t)

    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "losses.safetensors"))


def adamw(out):
    """torch.optim.AdamW on one weight and one bias over 4 steps with given gradients."""
    g = torch.Generator().manual_seed(99)
    w0, b0 = torch.randn(3, 4, generator=g), torch.randn(4, generator=g)
    grads_w = torch.randn(4, 3, 4, generator=g)
    grads_b = torch.randn(4, 4, generator=g)
    lrs = torch.tensor([1e-3, 3e-3, 2e-3, 5e-4])
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = torch.optim.AdamW(
        [{"params": [w], "weight_decay": 0.05}, {"params": [b], "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False,
    )
    for k in range(4):
        for group in opt.param_groups:
            group["lr"] = float(lrs[k])
        w.grad, b.grad = grads_w[k].clone(), grads_b[k].clone()
        opt.step()
    save_file(
        {"w0": w0, "b0": b0, "grads_w": grads_w, "grads_b": grads_b, "lrs": lrs,
         "w": w.detach().clone(), "b": b.detach().clone()},
        os.path.join(out, "adamw.safetensors"),
    )


def roc(scores, labels):
    thr = np.unique(scores)[::-1]
    pos, neg = labels.sum(), (1 - labels).sum()
    fpr = [0.0] + [((scores >= t) & (labels == 0)).sum() / neg for t in thr]
    tpr = [0.0] + [((scores >= t) & (labels == 1)).sum() / pos for t in thr]
    return np.array(fpr), np.array(tpr), np.concatenate([[np.inf], thr])


def metrics(out):
    rng = np.random.default_rng(7)
    n = 240
    labels = (rng.random(n) < 0.45).astype(np.float64)
    # Overlapping classes, rounded to 2 decimals so many scores tie, plus exact threshold values.
    scores = np.clip(0.5 + (labels - 0.5) * 0.35 + rng.normal(0, 0.22, n), 0, 1).round(2)
    scores[:6] = [0.3, 0.7, 0.5, 0.3, 0.7, 1.0]
    scores[6] = 0.0
    pos, neg = labels == 1, labels == 0

    sp, sn = scores[pos][:, None], scores[neg][None, :]
    auc = ((sp > sn).sum() + 0.5 * (sp == sn).sum()) / (pos.sum() * neg.sum())

    fpr, tpr, thr = roc(scores, labels)
    d = (1 - tpr) - fpr
    k = int(np.argmax(d <= 0))
    s = d[k - 1] / (d[k - 1] - d[k])
    eer = fpr[k - 1] + s * (fpr[k] - fpr[k - 1])
    eer_thr = thr[k]

    ap, prev = 0.0, 0.0
    for t in np.unique(scores)[::-1]:
        called = scores >= t
        recall = (called & pos).sum() / pos.sum()
        ap += (recall - prev) * ((called & pos).sum() / called.sum())
        prev = recall

    bins = np.clip(np.ceil(scores * 15) - 1, 0, 14).astype(int)
    ece = 0.0
    for b in range(15):
        m = bins == b
        if m.any():
            ece += m.sum() / n * abs(scores[m].mean() - labels[m].mean())

    acc = np.array([((scores >= t) == (labels == 1)).mean() for t in (0.5, 0.3, 0.7)])
    review = ((scores >= 0.3) & (scores <= 0.7)).mean()

    f64 = lambda x: torch.tensor(np.asarray(x, dtype=np.float64).reshape(-1))
    save_file(
        {
            "scores": f64(scores),
            "labels": f64(labels),
            "auc": f64(auc),
            "eer": f64(eer),
            "eer_threshold": f64(eer_thr),
            "ap": f64(ap),
            "ece": f64(ece),
            "accuracy": f64(acc),
            "review_share": f64(review),
            "roc_fpr": f64(fpr),
            "roc_tpr": f64(tpr),
            "roc_thr": f64(np.where(np.isinf(thr), -1.0, thr)),
        },
        os.path.join(out, "metrics.safetensors"),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    losses(args.out)
    adamw(args.out)
    metrics(args.out)
    with open(os.path.join(args.out, "done.stamp"), "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
