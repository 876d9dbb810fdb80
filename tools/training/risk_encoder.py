"""Fine-tunes the risk screen's own sentence encoder: MiniLM end to end with a 5-level head.

Why its own encoder: an MLP on the frozen, shared MiniLM embedding could not tell a crisis
from ordinary distress in words it had not seen (model-only recall of fresh hand-written crisis
messages 0.13-0.28 at the ESConv-valid threshold); fine-tuning the encoder on the same kinds of
rows raised it to 0.47-0.70 at the same threshold with no false escalation of the hand-written
negatives (side by side, 2026-12-03). The defense and strategy heads keep the shared encoder.

Output, beside the other risk weights: ``encoder.onnx`` (int8, the same graph signature as the
shared encoder, read with the shared encoder's tokenizer) and ``head.onnx`` (one linear layer,
the temperature folded in). Rows, weights and the held-back split are ``tools.training.risk``'s.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.common.labels import RISK_LEVELS

# Embeddings are unit length; a fixed scale lets a linear head reach confident logits.
LOGIT_SCALE = 20.0
BATCH = 32
LEARNING_RATE = 4e-5
MAX_TOKENS = 96
MAX_CHARS = 600
SEED = 0


def fine_tune(
    rows: Sequence[tuple[str, int, float]], threads: int, log_every: int = 100
) -> tuple[object, np.ndarray, np.ndarray]:
    """One epoch over ``rows`` (text, level, weight), class-balanced. Returns the fine-tuned
    ``SentenceEncoder`` (``solace_cli.modelbuild.load_torch_encoder``'s module) and the head's
    [5, 384] weight and [5] bias, acting on ``LOGIT_SCALE`` x the unit embedding."""
    import torch
    from tokenizers import Tokenizer

    from solace_cli.modelbuild import load_torch_encoder, source_model_dir

    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, threads))
    rows = list(rows)
    random.Random(SEED).shuffle(rows)
    tokenizer = Tokenizer.from_file(str(source_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    model = load_torch_encoder()
    model.train()
    head = torch.nn.Linear(384, len(RISK_LEVELS))
    levels = np.asarray([r[1] for r in rows])
    counts = np.bincount(levels, weights=[r[2] for r in rows], minlength=len(RISK_LEVELS))
    balance = torch.tensor(counts.sum() / (len(RISK_LEVELS) * np.maximum(counts, 1e-9)))
    params = list(model.parameters()) + list(head.parameters())
    optimiser = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.01)
    steps = max(1, len(rows) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1
    )
    started = time.perf_counter()
    for step in range(steps):
        batch = rows[step * BATCH : (step + 1) * BATCH]
        encodings = tokenizer.encode_batch([r[0][:MAX_CHARS] for r in batch])
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64)
        logits = head(model(ids, mask) * LOGIT_SCALE)
        y = torch.tensor([r[1] for r in batch])
        w = torch.tensor([r[2] for r in batch], dtype=torch.float32) * balance[y].float()
        loss = (torch.nn.functional.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()
        loss.backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % log_every == 0:
            elapsed = time.perf_counter() - started
            print(f"  risk encoder step {step}/{steps}: loss {loss.item():.3f} ({elapsed:.0f} s)")
    model.eval()
    weight = head.weight.detach().numpy().astype(np.float64)
    bias = head.bias.detach().numpy().astype(np.float64)
    return model, weight, bias


def export_encoder(model: object, out: Path) -> None:
    """The fine-tuned encoder as int8 ONNX at ``out``, exactly as the shared one is built."""
    from solace_cli.modelbuild import _export_fp32, _quantise

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        _export_fp32(model, fp32)
        out.parent.mkdir(parents=True, exist_ok=True)
        _quantise(fp32, out, Path(tmp))
