"""Reference attention for the LLM stand-ins (tools/real-size/llm.mjs), computed independently of
Attention Lens: the weights are read back from each variant's own ONNX file with the `onnx` package
(dequantized as onnxruntime's contrib operators define MatMulNBits and MatMulBnb4, and as
MatMulInteger/DynamicQuantizeLinear are defined), and the attention is computed by a plain PyTorch
module of the architecture (Hugging Face's Llama / Qwen2 / Gemma 3 equations), in float64.

Run with Debian's interpreter (python3-torch, python3-onnx, python3-numpy):
    /usr/bin/python3 tools/real-size/llm_reference.py <main folder> <genai folder> <ids as JSON> <out.json>
Normally through `node tools/real-size/llm-references.mjs`, which makes the folders and the ids.
"""
import base64
import hashlib
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

torch.set_grad_enabled(False)

VARIANT_FILES = {
    "fp32": "onnx/model.onnx",
    "fp16": "onnx/model_fp16.onnx",
    "q4": "onnx/model_q4.onnx",
    "q4f16": "onnx/model_q4f16.onnx",
    "quantized": "onnx/model_quantized.onnx",
    "uint8": "onnx/model_uint8.onnx",
    "bnb4": "onnx/model_bnb4.onnx",
    "merged": "onnx/decoder_model_merged.onnx",
}


def files_digest(folder, rel):
    """SHA-256 of the ONNX file and every external data file it names, in order."""
    model = onnx.load(os.path.join(folder, rel), load_external_data=False)
    locations = []
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location" and e.value not in locations:
                locations.append(e.value)
    h = hashlib.sha256()
    for f in [rel] + [os.path.join(os.path.dirname(rel), loc) for loc in locations]:
        with open(os.path.join(folder, f), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


# bitsandbytes' NormalFloat4 code book, as onnxruntime's contrib operators define it.
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
                -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0])


class Weights:
    """Float64 weights of one variant, by base name, dequantized from what the file stores."""

    def __init__(self, path, genai=False):
        model = onnx.load(path)
        self.t = {}
        for t in model.graph.initializer:
            self.t[t.name] = numpy_helper.to_array(t)
        self.genai = genai
        # MatMulBnb4 keeps its weight flat: its K and N are the node's attributes.
        self.bnb4 = {}
        for n in model.graph.node:
            if n.op_type == "MatMulBnb4":
                attrs = {a.name: a.i for a in n.attribute}
                self.bnb4[n.input[1]] = (attrs["K"], attrs["N"], attrs["block_size"], attrs["quant_type"])

    def raw(self, name):
        return torch.from_numpy(self.t[name].astype(np.float64))

    def matrix(self, name, stored=None):
        """W [in, out] of a projection stored as float, MatMulNBits (4-bit) or 8-bit MatMulInteger."""
        stored = stored or name
        if stored in self.t:
            return self.raw(stored)
        if stored + "_Q4" in self.t:
            packed = self.t[stored + "_Q4"]  # [N, blocks, 16] uint8, low nibble first
            n, blocks, blob = packed.shape
            scales = self.t[stored + "_scales"].astype(np.float64).reshape(n, blocks)
            low = (packed & 0x0F).astype(np.int64)
            high = (packed >> 4).astype(np.int64)
            codes = np.stack([low, high], axis=-1).reshape(n, blocks, blob * 2)  # element 2j, 2j+1
            w = (codes - 8) * scales[:, :, None]  # default zero point 8 (symmetric)
            return torch.from_numpy(w.reshape(n, blocks * blob * 2).T.copy())
        if stored + "_Bnb4" in self.t:
            k, n, block, quant_type = self.bnb4[stored + "_Bnb4"]
            assert quant_type == 1, "NF4 only"
            packed = self.t[stored + "_Bnb4"].astype(np.int64)
            codes = np.stack([packed >> 4, packed & 0x0F], axis=-1).reshape(-1)[: n * k]  # high nibble first
            absmax = self.t[stored + "_absmax"].astype(np.float64)
            values = NF4[codes] * np.repeat(absmax, block)[: n * k]
            return torch.from_numpy(values.reshape(n, k).T.copy())  # stored as the [N, K] transpose
        if stored + "_quantized" in self.t:
            q = self.t[stored + "_quantized"].astype(np.float64)
            return torch.from_numpy((q - float(self.t[stored + "_zero_point"])) * float(self.t[stored + "_scale"]))
        raise KeyError(stored)

    def quantized8(self, name):
        """(integer weights, zero point, scale) of an 8-bit projection, or None."""
        if name + "_quantized" not in self.t:
            return None
        return (torch.from_numpy(self.t[name + "_quantized"].astype(np.float64)), float(self.t[name + "_zero_point"]), float(self.t[name + "_scale"]))


def dynamic_quantize(x):
    """DynamicQuantizeLinear on float32 values: uint8 codes, scale, zero point (ties to even)."""
    x32 = x.to(torch.float32)
    lo = min(0.0, float(x32.min()))
    hi = max(0.0, float(x32.max()))
    scale = np.float32((hi - lo) / 255.0)
    zero = float(np.clip(np.round(-lo / scale), 0, 255))
    q = torch.clamp(torch.round(x32 / torch.tensor(scale, dtype=torch.float32)) + zero, 0, 255)
    return q.to(torch.float64), zero, float(scale)


class Model:
    def __init__(self, config, weights, variant):
        self.c = config
        self.w = weights
        self.variant = variant
        self.family = "gemma3" if config["model_type"].startswith("gemma3") else config["model_type"]

    def linear(self, x, name, stored=None, bias=None):
        q8 = self.w.quantized8(stored or name)
        if q8 is not None:
            wq, wz, ws = q8
            xq, xz, xs = dynamic_quantize(x)
            y = ((xq - xz) @ (wq - wz)) * (np.float32(xs) * np.float32(ws))
        else:
            # MatMulNBits with accuracy_level 4 (genai's CPU default) may quantize its input to int8;
            # onnxruntime-web's WebAssembly kernel computes in float32 (measured: within 1e-5 of this
            # float reference, against 0.1-0.2 with an int8 emulation), so no emulation here.
            y = x @ self.w.matrix(name, stored)
        return y if bias is None else y + bias

    def norm(self, x, w):
        y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.c["rms_norm_eps"])
        # Gemma multiplies by (1 + w); onnxruntime-genai stores Gemma's norm weights with the 1 added.
        return y * ((1 + w) if self.family == "gemma3" and self.variant != "genai" else w)

    def inv_freq(self, theta):
        hd = self.c["head_dim"]
        inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        scaling = self.c.get("rope_scaling")
        if self.family == "llama" and scaling and scaling.get("rope_type") == "llama3":
            factor, low, high, orig = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"], scaling["original_max_position_embeddings"]
            wavelen = 2 * math.pi / inv
            smooth = (orig / wavelen - low) / (high - low)
            scaled = torch.where(wavelen > orig / low, inv / factor, inv)
            mid = (wavelen >= orig / high) & (wavelen <= orig / low)
            inv = torch.where(mid, (1 - smooth) * inv / factor + smooth * inv, scaled)
        return inv

    def rope(self, x, theta):
        n = x.shape[-2]
        freqs = torch.arange(n, dtype=torch.float64)[:, None] * self.inv_freq(theta)[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * emb.cos() + rotated * emb.sin()

    def attentions(self, ids):
        c, w = self.c, self.w
        genai = self.variant == "genai"
        H, nh, nkv, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        gemma = self.family == "gemma3"
        x = w.raw("model.embed_tokens.weight")[torch.tensor(ids)]
        if gemma:
            # Hugging Face scales by √hidden in the weights' dtype; onnxruntime-genai by √hidden rounded to 2 decimals.
            x = x * (round(math.sqrt(H), 2) if genai else (float(np.float16(math.sqrt(H))) if self.variant in ("fp16", "q4f16") else math.sqrt(H)))
        n = len(ids)
        scale = c["query_pre_attn_scalar"] ** -0.5 if gemma else hd ** -0.5
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
        out = []
        for l in range(c["num_hidden_layers"]):
            p = f"model.layers.{l}"
            local = gemma and c["layer_types"][l] == "sliding_attention"
            h = self.norm(x, w.raw(f"{p}.input_layernorm.weight"))
            if genai and not gemma:
                qkv = self.linear(h, None, f"{p}.attn.qkv_proj.MatMul.weight", w.raw(f"{p}.attn.qkv_proj.Add.bias") if f"{p}.attn.qkv_proj.Add.bias" in w.t else None)
                q, k, v = qkv.split([nh * hd, nkv * hd, nkv * hd], dim=-1)
            else:
                bias = (lambda part: w.raw(f"{p}.self_attn.{part}_proj.bias")) if f"{p}.self_attn.q_proj.bias" in w.t else (lambda part: None)
                names = (lambda part: (None, f"{p}.attn.{part}_proj.MatMul.weight")) if genai else (lambda part: (f"{p}.self_attn.{part}_proj.weight", None))
                q = self.linear(h, *names("q"), bias("q"))
                k = self.linear(h, *names("k"), bias("k"))
                v = self.linear(h, *names("v"), bias("v"))
            q = q.reshape(n, nh, hd).transpose(0, 1)
            k = k.reshape(n, nkv, hd).transpose(0, 1)
            v = v.reshape(n, nkv, hd).transpose(0, 1)
            if gemma:
                q = self.norm(q, w.raw(f"{p}.self_attn.q_norm.weight"))
                k = self.norm(k, w.raw(f"{p}.self_attn.k_norm.weight"))
            theta = c["rope_local_base_freq"] if local else c["rope_theta"]
            q, k = self.rope(q, theta), self.rope(k, theta)
            group = nh // nkv
            k = k.repeat_interleave(group, dim=0)
            v = v.repeat_interleave(group, dim=0)
            scores = (q @ k.transpose(-1, -2)) * scale
            allowed = causal.clone()
            if local:
                i = torch.arange(n)
                allowed &= (i[:, None] - i[None, :]) < c["sliding_window"]
            scores = scores.masked_fill(~allowed, float("-inf"))
            probs = torch.softmax(scores, dim=-1)
            out.append(probs)
            ctx = (probs @ v).transpose(0, 1).reshape(n, nh * hd)
            a = self.linear(ctx, *((None, f"{p}.attn.o_proj.MatMul.weight") if genai else (f"{p}.self_attn.o_proj.weight", None)))
            mlp_name = (lambda part: (None, f"{p}.mlp.{part}_proj.MatMul.weight")) if genai else (lambda part: (f"{p}.mlp.{part}_proj.weight", None))
            if gemma:
                a = self.norm(a, w.raw(f"{p}.post_attention_layernorm.weight"))
            x = x + a
            h2 = self.norm(x, w.raw(f"{p}.pre_feedforward_layernorm.weight" if gemma else f"{p}.post_attention_layernorm.weight"))
            gate = self.linear(h2, *mlp_name("gate"))
            up = self.linear(h2, *mlp_name("up"))
            act = torch.nn.functional.gelu(gate, approximate="tanh") if gemma else torch.nn.functional.silu(gate)
            m = self.linear(act * up, *mlp_name("down"))
            if gemma:
                m = self.norm(m, w.raw(f"{p}.post_feedforward_layernorm.weight"))
            x = x + m
        return torch.stack(out)  # [layers, heads, n, n]


def main():
    folder, genai_folder, ids_json, out_file = sys.argv[1:5]
    ids = json.loads(ids_json)
    config = json.load(open(os.path.join(folder, "config.json")))
    result = {}
    for variant, rel in list(VARIANT_FILES.items()) + [("genai", None)]:
        base = genai_folder if variant == "genai" else folder
        rel = rel or "model.onnx"
        weights = Weights(os.path.join(base, rel), genai=variant == "genai")
        att = Model(config, weights, variant).attentions(ids).to(torch.float32).numpy()
        result[variant] = {
            "file": rel,
            "sha256": files_digest(base, rel),
            "shape": list(att.shape),
            "attention": base64.b64encode(att.astype("<f4").tobytes()).decode("ascii"),
        }
        print(f"{variant}: {list(att.shape)}", file=sys.stderr)
    json.dump(result, open(out_file, "w"), indent=1)


if __name__ == "__main__":
    main()
