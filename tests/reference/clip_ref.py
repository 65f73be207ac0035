"""Parity fixtures for src/models/clip.rs and src/models/tokenizer.rs.

Reference implementations: transformers 5.24 `CLIPModel` / `CLIPVisionModelWithProjection`
(eager attention, random init under a fixed seed) and open_clip 3.3's `tokenize` (the OpenAI
CLIP tokenizer).

Usage (run by tests/common `fixtures()`):
  clip_ref.py --out DIR --what tokenizer
  clip_ref.py --out DIR --what clip   --config-json '<ClipConfig as JSON>' --batch 2
  clip_ref.py --out DIR --what vision --config-json '<ClipConfig as JSON>' --batch 1

The config comes from the Rust side (serde JSON of `ClipConfig`), so the architecture numbers
have one source of truth. Files written:
  weights.safetensors   the model's own state_dict (names as in the published checkpoints)
  inputs.safetensors    pixel_values [B,3,S,S] (and input_ids [B,77] for --what clip)
  expected.safetensors  outputs to match
  meta.json             timings and notes
  done.stamp            written last
"""

import argparse
import json
import os
import time

import torch
from safetensors.torch import save_file

# Texts for the tokenizer parity test: punctuation, numbers, unicode, HTML entities, curly
# quotes, ligatures, full-width forms, contractions, very long input (> 77 tokens).
TOKENIZER_TEXTS = [
    "a photo of a deepfake face",
    "A photo of a REAL face.",
    "",
    "   lots   of\twhite\nspace   ",
    "Hello, world!!! What's up? I'm fine; you're great, they've gone, we'll see, he'd go.",
    "The year 2024 had 366 days; pi ~ 3.14159 and 1,000,000 > 999,999.",
    "e-mail: someone@example.com, url: https://example.org/path?q=1&x=2#frag",
    "C'est la vie — naïve café, déjà vu, Ærøskøbing, straße, İstanbul",
    "Ελληνικά ΚΕΙΜΕΝΑ και λέξεις σ",
    "日本語のテキストと中文字符",
    "한국어 문장입니다",
    "Русский текст: Привет, мир!",
    "emoji 😀🎉👍🏽 and flags 🇫🇷 and ZWJ 👩‍👩‍👧",
    "Tom &amp; Jerry &lt;3 &quot;quoted&quot; &#39;apos&#39; &#x263A; &copy; &nbsp;end",
    "double &amp;amp; escaped",
    "“Curly quotes” and ‘single’ ones, it’s fine",
    "ﬁne ﬂour ﬀ ligatures",
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ １２３",
    "a_b-c.d/e\\f|g+h=i*j^k%l$m#n@o!p?q",
    "<start_of_text> literal specials <end_of_text>",
    "ALL CAPS SHOUTING ABOUT GAN ARTIFACTS",
    "tab\tseparated\tvalues\r\nwindows line",
    "word " * 100,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a manipulated video frame with blending boundary artifacts around the jaw",
    "face-swap (FaceSwap), re-enactment [Face2Face], and NeuralTextures {NT}",
    "numbers like 3rd 21st 100th 1e-5 0x1F",
    "quotes \"inside\" 'and' `backticks`",
    "mixed 123abc456 def789",
    "Ünïcödé ÀÉÎÕÜ ñ ç",
    "...!!!???---",
]


def tokenizer_fixtures(out):
    import open_clip

    t0 = time.time()
    tok77 = open_clip.tokenize(TOKENIZER_TEXTS)
    tok16 = open_clip.tokenize(TOKENIZER_TEXTS, context_length=16)
    with open(os.path.join(out, "texts.json"), "w", encoding="utf-8") as f:
        json.dump(TOKENIZER_TEXTS, f, ensure_ascii=False)
    save_file({"tokens77": tok77.contiguous(), "tokens16": tok16.contiguous()},
              os.path.join(out, "expected.safetensors"))
    return {"seconds_tokenize": time.time() - t0, "n_texts": len(TOKENIZER_TEXTS)}


def hf_vision_config(v, projection_dim):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        image_size=v["image_size"],
        patch_size=v["patch_size"],
        hidden_size=v["hidden_size"],
        intermediate_size=v["intermediate_size"],
        num_hidden_layers=v["num_hidden_layers"],
        num_attention_heads=v["num_attention_heads"],
        layer_norm_eps=v["layer_norm_eps"],
        hidden_act=v["hidden_act"],
        projection_dim=projection_dim,
    )


def hf_text_config(t, projection_dim):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=t["vocab_size"],
        max_position_embeddings=t["max_position_embeddings"],
        hidden_size=t["hidden_size"],
        intermediate_size=t["intermediate_size"],
        num_hidden_layers=t["num_hidden_layers"],
        num_attention_heads=t["num_attention_heads"],
        layer_norm_eps=t["layer_norm_eps"],
        hidden_act=t["hidden_act"],
        eos_token_id=t["eos_token_id"],
        projection_dim=projection_dim,
    )


def perturb(model):
    """HF initialises biases to 0 and LayerNorm weights to 1: a port that swapped two biases or two
    LayerNorms would still match. Give every such tensor distinct random values."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.02)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))


def save_weights(model, out):
    sd = model.state_dict()
    # transformers 5 registers `position_ids` as non-persistent buffers, so they are not in the
    # state dict; older checkpoints carry them. Record which case we are in.
    buffers = [k for k in sd if k.endswith("position_ids")]
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(out, "weights.safetensors"))
    return {"n_tensors": len(sd), "n_params": sum(v.numel() for v in sd.values()),
            "position_id_buffers_in_state_dict": buffers}


def model_fixtures(out, what, cfg, batch):
    from transformers import CLIPConfig, CLIPModel, CLIPVisionModelWithProjection

    meta = {}
    torch.manual_seed(0)
    vcfg = hf_vision_config(cfg["vision"], cfg["projection_dim"])
    t0 = time.time()
    if what == "clip":
        tcfg = hf_text_config(cfg["text"], cfg["projection_dim"])
        config = CLIPConfig(text_config=tcfg.to_dict(), vision_config=vcfg.to_dict(),
                            projection_dim=cfg["projection_dim"])
        config._attn_implementation = "eager"
        model = CLIPModel(config)
    else:
        vcfg._attn_implementation = "eager"
        model = CLIPVisionModelWithProjection(vcfg)
    model.eval()
    perturb(model)
    meta["seconds_init"] = time.time() - t0
    meta["attn_implementation"] = model.config._attn_implementation
    meta.update(save_weights(model, out))

    s = cfg["vision"]["image_size"]
    gen = torch.Generator().manual_seed(1)
    pixels = torch.randn(batch, 3, s, s, generator=gen)
    inputs = {"pixel_values": pixels}
    if what == "clip":
        import open_clip

        texts = ["a photo of a deepfake face", "a real photo of a person, taken outdoors"]
        ids = open_clip.tokenize((texts * batch)[:batch])
        inputs["input_ids"] = ids
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(out, "inputs.safetensors"))

    exp = {}
    t0 = time.time()
    with torch.no_grad():
        if what == "clip":
            o = model(input_ids=inputs["input_ids"], pixel_values=pixels,
                      output_attentions=True, output_hidden_states=True)
            vo = o.vision_model_output
            to = o.text_model_output
            exp["logits_per_image"] = o.logits_per_image
            # CLIPModel returns L2-normalised embeds; the raw projections are what the towers give.
            exp["image_embeds"] = vo.pooler_output  # get_image_features put the projection here
            exp["text_embeds"] = to.pooler_output
            exp["text_last_hidden_state"] = to.last_hidden_state
            exp["text_pooled"] = model.text_model(input_ids=inputs["input_ids"]).pooler_output
            vm = model.vision_model
        else:
            vo = model(pixel_values=pixels, output_attentions=True, output_hidden_states=True)
            exp["image_embeds"] = vo.image_embeds
            vm = model.vision_model
        meta["seconds_forward"] = time.time() - t0
        exp["last_hidden_state"] = vo.last_hidden_state
        exp["pooled"] = vm.post_layernorm(vo.last_hidden_state[:, 0, :])
        atts = vo.attentions
        meta["n_attentions"] = len(atts)
        exp["attn_first"] = atts[0]
        exp["attn_last"] = atts[-1]
        hs = vo.hidden_states
        meta["n_hidden_states"] = len(hs)
        # hidden_states[0] is the (pre-LN'd) embedding output fed to layer 0; [i] the output of layer i-1.
        exp["hidden_first_layer"] = hs[1]
    save_file({k: v.contiguous() for k, v in exp.items()}, os.path.join(out, "expected.safetensors"))
    return meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--what", choices=["tokenizer", "clip", "vision"], required=True)
    ap.add_argument("--config-json")
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.what == "tokenizer":
        meta = tokenizer_fixtures(args.out)
    else:
        meta = model_fixtures(args.out, args.what, json.loads(args.config_json), args.batch)
    meta["torch"] = torch.__version__
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))
    with open(os.path.join(args.out, "done.stamp"), "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
