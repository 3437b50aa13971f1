"""A small pre-LayerNorm transformer with eager (explicit softmax) attention, in two flavours:
`causal` (GPT-style language model) and `masked` (BERT-style masked language model).
forward() returns logits and every layer's attention probabilities `[batch, heads, query, key]`,
which the ONNX export names `attentions.N`.

Positions enter as ALiBi biases (Press et al., 2022): each head subtracts slope × distance from its
scores, with geometric slopes per head. There are no position embeddings, so a model trained on
256-token windows runs at 512, and relative patterns (previous token, local context) are cheap to
learn on a CPU budget.
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

    def to_dict(self) -> dict:
        return asdict(self)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.head_dim = cfg.hidden // cfg.heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
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

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, probs = self.attn(self.ln1(x), bias)
        x = x + a
        return x + self.mlp(self.ln2(x)), probs


class TinyTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden)
        slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / cfg.heads) for h in range(cfg.heads)])
        self.register_buffer("slopes", slopes, persistent=False)
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
        distance = (pos[:, None] - pos[None, :]).abs().to(x.dtype)
        alibi = -self.slopes[:, None, None] * distance  # [heads, q, k]
        bias = alibi[None] + (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * neg
        if self.cfg.kind == "causal":
            future = torch.triu(torch.ones(t, t, device=x.device, dtype=torch.bool), diagonal=1)
            bias = bias.masked_fill(future, neg)
        attentions = []
        for block in self.blocks:
            x, probs = block(x, bias)
            attentions.append(probs)
        logits = self.ln(x) @ self.tok.weight.T  # tied output embedding
        return (logits, *attentions)
