"""Per-strategy token bias table b [S, V], built from ESConv supporter turns.

For every supporter turn ("speaker": "sys") of the ESConv training file, the text is tokenised
and its tokens counted under the turn's strategy: c_s(y), N_s = Σ_y c_s(y). Each strategy is
compared with all the strategies taken together without it (the rest: c_¬s = Σ_{t≠s} c_t,
N_¬s). Every token gets a prior pseudo-count proportional to the size of the sample it is
counted in, α · N_X / N̄ with N̄ = N / S the mean strategy size (``smoothing`` = α):

    π_X(y)  = (c_X(y) + α N_X / N̄) / (N_X (1 + α V / N̄))           for X = s and X = ¬s
    b_s(y)  = logit π_s(y) − logit π_¬s(y)                           (smoothed log-odds ratio)

Scaling the prior with the sample makes the two neutral cases exactly 0: a token never seen in
the corpus, and a token used at the same rate under s as under the rest. (With one fixed
pseudo-count the smaller sample, s, would lend every unseen token a higher rate, and a token
used equally everywhere would come out negative.) The table is clipped to [−clip, clip] so
that λ keeps one meaning across tables.

The table is saved (``.npz``) with the tokenizer's identity: its name, vocabulary size and a
SHA-256 of its (token, id) pairs. Loading it against another tokenizer raises
``TokenizerMismatchError``; the hash decides, the name is only reported (one tokenizer can be
named by a hub id or by a local path).

Command line:
    python -m kernels.bias_table --tokenizer DIR_OR_tokenizer.json --out table.npz \\
        [--train /work/shared/data/esconv/train.txt] [--vocab-size V] [--smoothing 1] [--clip 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kernels.strategies import NUM_STRATEGIES, STRATEGIES

DEFAULT_TRAIN_PATH = Path("/work/shared/data/esconv/train.txt")
FORMAT_VERSION = 1


class TokenizerMismatchError(ValueError):
    """The bias table was built with another tokenizer than the one it is used with."""


@dataclass(frozen=True)
class TokenizerIdentity:
    name: str
    vocab_size: int
    vocab_sha256: str

    def matches(self, other: TokenizerIdentity) -> bool:
        return self.vocab_size == other.vocab_size and self.vocab_sha256 == other.vocab_sha256


@dataclass(frozen=True)
class BiasTable:
    """``bias`` is float32 [S, V] in the order of ``kernels.strategies.STRATEGIES``."""

    bias: np.ndarray
    tokenizer: TokenizerIdentity
    smoothing: float
    clip: float
    turns_per_strategy: tuple[int, ...]
    source: str

    @property
    def vocab_size(self) -> int:
        return int(self.bias.shape[1])

    def to_tensor(self, vocab_size: int | None = None, device: Any = "cpu", dtype: Any = None):
        """The table as a torch tensor, zero-padded to ``vocab_size`` columns when the model's
        logits are wider than the tokenizer (padded embedding matrices)."""
        import torch

        bias = torch.from_numpy(self.bias)
        if vocab_size is not None and vocab_size != bias.shape[1]:
            if vocab_size < bias.shape[1]:
                raise ValueError(
                    f"bias table has {bias.shape[1]} columns but the logits only {vocab_size}"
                )
            bias = torch.nn.functional.pad(bias, (0, vocab_size - bias.shape[1]))
        return bias.to(device=device, dtype=dtype or torch.float32).contiguous()


def _vocab(tokenizer: Any) -> dict[str, int]:
    try:
        return dict(tokenizer.get_vocab(with_added_tokens=True))  # tokenizers.Tokenizer
    except TypeError:
        return dict(tokenizer.get_vocab())  # transformers tokenizers


def mixture_row(bias: np.ndarray, probabilities: Sequence[float]) -> np.ndarray:
    """float32 [V]: Σ_s p(s) b_s with p normalised (the bias of a strategy mixture)."""
    p = np.asarray(probabilities, dtype=np.float32)
    if p.shape != (bias.shape[0],) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"need {bias.shape[0]} non-negative probabilities, not all zero")
    nonzero = np.flatnonzero(p)
    if nonzero.size == 1:  # one-hot: the table's row itself, no copy
        return bias[nonzero[0]]
    return ((p / p.sum()) @ bias).astype(np.float32)


def tokenizer_identity(tokenizer: Any, name: str | None = None) -> TokenizerIdentity:
    """Name, vocabulary size and SHA-256 of the sorted (id, token) pairs of a Hugging Face
    ``tokenizers.Tokenizer`` or ``transformers`` tokenizer."""
    vocab = _vocab(tokenizer)
    digest = hashlib.sha256()
    for token, index in sorted(vocab.items(), key=lambda item: (item[1], item[0])):
        digest.update(f"{index}\t{token}\n".encode())
    if name is None:
        name = str(getattr(tokenizer, "name_or_path", "") or "unnamed")
    size = max(vocab.values()) + 1 if vocab else 0
    return TokenizerIdentity(name=name, vocab_size=size, vocab_sha256=digest.hexdigest())


def _encode_batch(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        return [enc.ids for enc in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    encoded = tokenizer(list(texts), add_special_tokens=False)  # transformers
    return [list(ids) for ids in encoded["input_ids"]]


def read_supporter_turns(train_path: str | Path) -> list[tuple[int, str]]:
    """(strategy index, text) of every supporter turn in an ESConv JSONL file."""
    by_name = {name: i for i, name in enumerate(STRATEGIES)}
    turns: list[tuple[int, str]] = []
    with open(train_path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                conversation = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{train_path}:{line_number}: not JSON ({exc.msg})") from exc
            for turn in conversation.get("dialog", []):
                if turn.get("speaker") != "sys":
                    continue
                strategy = turn.get("strategy")
                if strategy not in by_name:
                    raise ValueError(f"{train_path}:{line_number}: unknown strategy {strategy!r}")
                turns.append((by_name[strategy], str(turn.get("text", ""))))
    return turns


def count_tokens(
    turns: Iterable[tuple[int, str]], tokenizer: Any, vocab_size: int, batch_size: int = 512
) -> np.ndarray:
    """int64 [S, V] token counts per strategy."""
    counts = np.zeros((NUM_STRATEGIES, vocab_size), dtype=np.int64)
    turns = list(turns)
    for begin in range(0, len(turns), batch_size):
        batch = turns[begin : begin + batch_size]
        for (strategy, _), ids in zip(
            batch, _encode_batch(tokenizer, [text for _, text in batch]), strict=True
        ):
            if ids:
                ids = np.asarray(ids, dtype=np.int64)
                if ids.max() >= vocab_size:
                    raise ValueError(
                        f"token id {int(ids.max())} is outside vocab_size {vocab_size}"
                    )
                np.add.at(counts[strategy], ids, 1)
    return counts


def log_odds_bias(counts: np.ndarray, smoothing: float = 1.0, clip: float = 5.0) -> np.ndarray:
    """float32 [S, V] smoothed, centred and clipped log-odds of each token under each strategy
    against the other strategies (formula in the module docstring)."""
    if smoothing <= 0:
        raise ValueError("smoothing must be positive")
    counts = counts.astype(np.float64)
    num_strategies, vocab_size = counts.shape
    mean_size = max(counts.sum() / num_strategies, 1.0)  # N̄
    rest = counts.sum(axis=0, keepdims=True) - counts  # c_¬s(y)

    def logit(count: np.ndarray) -> np.ndarray:
        size = np.maximum(count.sum(axis=1, keepdims=True), 1.0)  # N_X
        share = (count / size + smoothing / mean_size) / (1.0 + smoothing * vocab_size / mean_size)
        return np.log(share) - np.log1p(-share)

    bias = logit(counts) - logit(rest)
    if clip is not None and math.isfinite(clip):
        bias = np.clip(bias, -clip, clip)
    return bias.astype(np.float32)


def build_bias_table(
    tokenizer: Any,
    train_path: str | Path = DEFAULT_TRAIN_PATH,
    *,
    vocab_size: int | None = None,
    smoothing: float = 1.0,
    clip: float = 5.0,
    tokenizer_name: str | None = None,
) -> BiasTable:
    """Build the [S, V] table from an ESConv ``train.txt`` and a tokenizer. ``vocab_size``
    defaults to the tokenizer's; pass the model's logits width when it is larger."""
    identity = tokenizer_identity(tokenizer, tokenizer_name)
    vocab_size = vocab_size or identity.vocab_size
    if vocab_size < identity.vocab_size:
        raise ValueError(f"vocab_size {vocab_size} < tokenizer size {identity.vocab_size}")
    turns = read_supporter_turns(train_path)
    if not turns:
        raise ValueError(f"no supporter turns in {train_path}")
    counts = count_tokens(turns, tokenizer, vocab_size)
    per_strategy = np.bincount([s for s, _ in turns], minlength=NUM_STRATEGIES)
    return BiasTable(
        bias=log_odds_bias(counts, smoothing, clip),
        tokenizer=identity,
        smoothing=float(smoothing),
        clip=float(clip),
        turns_per_strategy=tuple(int(n) for n in per_strategy),
        source=Path(train_path).name,
    )


def save_bias_table(table: BiasTable, path: str | Path) -> Path:
    path = Path(path)
    meta = {
        "format_version": FORMAT_VERSION,
        "strategies": list(STRATEGIES),
        "tokenizer": {
            "name": table.tokenizer.name,
            "vocab_size": table.tokenizer.vocab_size,
            "vocab_sha256": table.tokenizer.vocab_sha256,
        },
        "smoothing": table.smoothing,
        "clip": table.clip,
        "turns_per_strategy": list(table.turns_per_strategy),
        "source": table.source,
    }
    with open(path, "wb") as handle:  # a file handle: np.savez would append ".npz" to the name
        np.savez(handle, bias=table.bias, meta=np.array(json.dumps(meta)))
    return path


def load_bias_table(
    path: str | Path, tokenizer: Any = None, *, expected: TokenizerIdentity | None = None
) -> BiasTable:
    """Load a saved table. With ``tokenizer`` (or ``expected``) the stored identity must match,
    else ``TokenizerMismatchError``."""
    with np.load(path, allow_pickle=False) as data:
        bias = data["bias"].astype(np.float32)
        meta = json.loads(str(data["meta"]))
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported bias table format {meta.get('format_version')}")
    if meta.get("strategies") != list(STRATEGIES):
        raise ValueError(f"{path}: strategies are not in the canonical order {list(STRATEGIES)}")
    stored = TokenizerIdentity(**meta["tokenizer"])
    if tokenizer is not None:
        expected = tokenizer_identity(tokenizer)
    if expected is not None and not stored.matches(expected):
        raise TokenizerMismatchError(
            f"{path} was built for tokenizer {stored.name!r} (vocab {stored.vocab_size}, "
            f"sha256 {stored.vocab_sha256[:12]}…) but is used with {expected.name!r} "
            f"(vocab {expected.vocab_size}, sha256 {expected.vocab_sha256[:12]}…); "
            "rebuild it with python -m kernels.bias_table"
        )
    return BiasTable(
        bias=bias,
        tokenizer=stored,
        smoothing=float(meta["smoothing"]),
        clip=float(meta["clip"]),
        turns_per_strategy=tuple(meta["turns_per_strategy"]),
        source=str(meta["source"]),
    )


def load_tokenizer(spec: str) -> Any:
    """A ``tokenizer.json`` file through ``tokenizers``, else a directory or name through
    ``transformers.AutoTokenizer`` (offline use needs a local directory)."""
    if spec.endswith(".json") and Path(spec).is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(spec)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(spec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN_PATH), help="ESConv train.txt")
    parser.add_argument("--tokenizer", required=True, help="tokenizer.json, directory or name")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--vocab-size", type=int, default=None, help="model logits width")
    parser.add_argument("--smoothing", type=float, default=1.0)
    parser.add_argument("--clip", type=float, default=5.0)
    args = parser.parse_args(argv)
    tokenizer = load_tokenizer(args.tokenizer)
    table = build_bias_table(
        tokenizer,
        args.train,
        vocab_size=args.vocab_size,
        smoothing=args.smoothing,
        clip=args.clip,
        tokenizer_name=args.tokenizer,
    )
    save_bias_table(table, args.out)
    print(
        f"wrote {args.out}: [{table.bias.shape[0]}, {table.bias.shape[1]}], "
        f"tokenizer {table.tokenizer.name} ({table.tokenizer.vocab_sha256[:12]}), "
        f"turns per strategy {list(table.turns_per_strategy)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
