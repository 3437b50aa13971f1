"""A small pre-LayerNorm transformer with eager (explicit softmax) attention, in two flavours:
`causal` (GPT-style language model) and `masked` (BERT-style masked language model).
forward() returns logits and every layer's attention probabilities `[batch, heads, query, key]`,
which the ONNX export names `attentions.N`.

Positions are relative, never learned embeddings, so a model trained on 256-token windows runs at
512: ALiBi biases (Press et al., 2022; each head subtracts a fixed slope × distance from its scores),
rotary embeddings (RoPE, Su et al., 2021, as in Llama; queries and keys are rotated by position), or
a learned relative-position bias (as in T5, Raffel et al., 2020: each layer and head learns one
scalar per distance bucket, exact up to 16 tokens and log-spaced beyond, added to its scores).
ALiBi's fixed slopes and RoPE's content-dependent rotations make a sharp "attend to the previous
token" pattern hard to express in a model this small; the learned bias expresses it with one number.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class ModelConfig:
    kind: str  # "causal" | "masked"
    vocab_size: int
    layers: int
    heads: int
    hidden: int
    max_positions: int
    dropout: float = 0.0
    positions: str = "alibi"  # "alibi" | "rope" | "relative", or two joined by "+"
    buckets: int = 32  # relative: distance buckets per direction set
    max_distance: int = 256  # relative: distances beyond share the last bucket

    def to_dict(self) -> dict:
        return asdict(self)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of x [b, h, t, d] with cos/sin [t, d] (rotate-half convention, as Llama)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def relative_buckets(t: int, bidirectional: bool, buckets: int, max_distance: int, device=None) -> torch.Tensor:
    """T5's bucketing of key - query offsets for a [t, t] score matrix: small distances get their own
    bucket, larger ones share log-spaced buckets; bidirectional models use half the buckets per side."""
    pos = torch.arange(t, device=device)
    rel = pos[None, :] - pos[:, None]  # key - query
    offset = torch.zeros_like(rel)
    if bidirectional:
        buckets //= 2
        offset = (rel > 0).long() * buckets
        n = rel.abs()
    else:
        n = (-rel).clamp_min(0)
    exact = buckets // 2
    far = exact + (torch.log(n.float().clamp_min(1) / exact) / math.log(max_distance / exact) * (buckets - exact)).long()
    far = torch.minimum(far, torch.full_like(far, buckets - 1))
    return offset + torch.where(n < exact, n, far)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.head_dim = cfg.hidden // cfg.heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.relative = nn.Embedding(cfg.buckets, cfg.heads) if "relative" in cfg.positions.split("+") else None

    def forward(self, x: torch.Tensor, bias: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None,
                buckets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        if self.relative is not None:
            bias = bias + self.relative(buckets).permute(2, 0, 1)[None]  # [1, heads, q, k]
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
        probs = torch.softmax(scores, dim=-1)
        y = (self.drop(probs) @ v).transpose(1, 2).reshape(b, t, c)
        return self.out(y), probs


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.hidden)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.hidden)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden, 4 * cfg.hidden), nn.GELU(), nn.Linear(4 * cfg.hidden, cfg.hidden), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor, bias: torch.Tensor, rope, buckets=None) -> tuple[torch.Tensor, torch.Tensor]:
        a, probs = self.attn(self.ln1(x), bias, rope, buckets)
        x = x + a
        return x + self.mlp(self.ln2(x)), probs


class TinyTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden)
        slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / cfg.heads) for h in range(cfg.heads)])
        self.register_buffer("slopes", slopes, persistent=False)
        half = cfg.hidden // cfg.heads // 2
        self.register_buffer("inv_freq", 1.0 / (10000.0 ** (torch.arange(half, dtype=torch.float32) / half)), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.hidden)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        t = input_ids.shape[1]
        x = self.tok(input_ids)
        neg = torch.finfo(x.dtype).min
        pos = torch.arange(t, device=x.device)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * neg
        rope = buckets = None
        schemes = self.cfg.positions.split("+")
        if "relative" in schemes:
            buckets = relative_buckets(t, self.cfg.kind != "causal", self.cfg.buckets, self.cfg.max_distance, x.device)
        if "alibi" in schemes:
            distance = (pos[:, None] - pos[None, :]).abs().to(x.dtype)
            bias = bias + (-self.slopes[:, None, None] * distance)[None]  # [1, heads, q, k]
        if "rope" in schemes:
            angles = pos.to(x.dtype)[:, None] * self.inv_freq[None, :]
            angles = torch.cat([angles, angles], dim=-1)  # [t, head_dim]
            rope = (angles.cos(), angles.sin())
        if self.cfg.kind == "causal":
            future = torch.triu(torch.ones(t, t, device=x.device, dtype=torch.bool), diagonal=1)
            bias = bias.masked_fill(future, neg)
        attentions = []
        for block in self.blocks:
            x, probs = block(x, bias, rope, buckets)
            attentions.append(probs)
        logits = self.ln(x) @ self.tok.weight.T  # tied output embedding
        return (logits, *attentions)
