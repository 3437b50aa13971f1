"""Builds the training corpus from text that is on this machine and licensed for this use.

Sources (both installed from Debian's archive by the caller):
- King James Version of the Bible (Debian package `bible-kjv-text`, read with `bible` from
  `bible-kjv`): the 1611 translation is in the public domain.
- Python's standard library source (`/usr/lib/python3.*`): PSF License Agreement, which permits
  use and derivative works.

Documents are split into train and held-out sets by a stable hash, so held-out evidence is never
computed on text the models trained on.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass


@dataclass
class Corpus:
    train: list[str]
    heldout: list[str]
    heldout_code: list[str]
    sources: dict[str, int]


def _kjv_chapters() -> list[str]:
    out = subprocess.run(["bible", "-l0", "Ge1:1-Re22:21"], check=True, capture_output=True, text=True).stdout
    chapters: list[str] = []
    current: list[str] = []
    for line in out.splitlines():
        m = re.match(r"^\s+\d+\s+(.*)$", line)
        if m:
            current.append(m.group(1).strip())
        elif line.strip() and current:
            chapters.append(" ".join(current))
            current = []
    if current:
        chapters.append(" ".join(current))
    return chapters


def _python_sources(max_bytes: int) -> list[str]:
    roots = sorted(glob.glob("/usr/lib/python3.[0-9]*"))
    if not roots:
        raise SystemExit("Python standard library source not found under /usr/lib/python3.*")
    files = sorted(glob.glob(os.path.join(roots[-1], "*.py")) + glob.glob(os.path.join(roots[-1], "*/*.py")))
    docs: list[str] = []
    total = 0
    for f in files:
        if "/test" in f or "/idlelib/" in f or "/lib2to3/" in f:
            continue
        try:
            text = open(f, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        if total + len(text) > max_bytes:
            break
        docs.append(text)
        total += len(text)
    return docs


def _heldout(doc: str, fraction: float) -> bool:
    h = int(hashlib.sha256(doc.encode("utf-8")).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


def build(max_code_bytes: int = 3_000_000, heldout_fraction: float = 0.03) -> Corpus:
    """Returns train/held-out documents; the split is deterministic."""
    prose = _kjv_chapters()
    code = _python_sources(max_code_bytes)
    train: list[str] = []
    heldout: list[str] = []
    heldout_code: list[str] = []
    for doc in prose:
        (heldout if _heldout(doc, heldout_fraction) else train).append(doc)
    for doc in code:
        if _heldout(doc, heldout_fraction * 2):
            heldout.append(doc)
            heldout_code.append(doc)
        else:
            train.append(doc)
    return Corpus(train, heldout, heldout_code, {"kjv_chapters": len(prose), "python_files": len(code),
                                                "kjv_bytes": sum(map(len, prose)), "python_bytes": sum(map(len, code))})
