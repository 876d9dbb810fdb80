"""PyTorch references for the strategy mixture, chunked over the vocabulary.

For each row b with strategy probabilities p(s), strength λ and bias rows b_s:

    log p(y) = log Σ_s p(s) · softmax(logits + λ · b_s)(y)
             = l(y) + logsumexp_s( log p(s) − LSE_s + λ · b_s(y) ),
    LSE_s    = logsumexp_y( l(y) + λ · b_s(y) )          (over the tokens that are not banned)

Two implementations, both never holding more than a [rows, S, chunk] tile:

- ``strategy_mixture_pytorch``: the direct form above, two passes of ``logsumexp`` over vocabulary
  chunks. General and the ground truth for the Triton kernel. Costs 2·S exps per element.
- ``strategy_mixture_factored``: the CPU fast path. Rows sharing one λ share
  F_s(y) = exp(λ (b_s(y) − c_s)), so with E(y) = exp(l(y) − max l) both passes become small
  matrix products (D = E @ Fᵀ, then Q = W @ F) and each element costs one exp and one log
  instead of 2·S exps. F ≤ 1 by the choice of c_s; it is used only when |λ| · range(b_s) stays
  below ``_SAFE_EXP_RANGE`` so F cannot underflow; other rows go through the direct form.

Contract shared with the kernel (see ``check_inputs``):

- ``logits`` [B, V] fp32/bf16/fp16; ``bias`` [S, V]; ``probs`` [B, S] (non-negative, normalised
  per row here); ``strength`` [B]; ``banned`` optional [B, K] integer ids, any negative id is
  padding and ids outside [0, V) are ignored.
- A row is *conditioned* when λ ≠ 0 and Σ_s p(s) > 0. A conditioned row receives log p(y), with
  banned tokens at -inf and excluded from every softmax (so the mixture still sums to 1).
- A row that is not conditioned is left as it was, bit for bit, except that its banned tokens
  are set to -inf.
- ``out=None`` returns a new tensor; ``out=logits`` works in place; any other ``out`` (same
  shape and dtype) is written. Internals are fp32; the result is rounded to ``out``'s dtype.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import torch

# Elements of one [rows, S, chunk] fp32 tile. 2^20 elements (4 MiB) keeps the tiles of one pass
# in L2 on a server CPU while keeping Python's per-chunk overhead small.
_TILE_ELEMENTS = 1 << 20
_MIN_CHUNK = 256
# F = exp(λ (b − c)) ≥ exp(−_SAFE_EXP_RANGE) ≈ 1e-26 stays a normal fp32 even after scaling
# by p(s)/D_s ≥ 1/(S·V); see strategy_mixture_factored.
_SAFE_EXP_RANGE = 60.0

_FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def check_inputs(
    logits: torch.Tensor,
    bias: torch.Tensor,
    probs: torch.Tensor,
    strength: torch.Tensor,
    banned: torch.Tensor | None,
    out: torch.Tensor | None,
) -> None:
    """Raise ValueError when the arguments break the contract in the module docstring."""
    if logits.dim() != 2:
        raise ValueError(f"logits must be [B, V], got shape {tuple(logits.shape)}")
    batch, vocab = logits.shape
    if logits.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"logits dtype must be one of {_FLOAT_DTYPES}, got {logits.dtype}")
    if bias.dim() != 2 or bias.shape[1] != vocab:
        raise ValueError(f"bias must be [S, {vocab}], got shape {tuple(bias.shape)}")
    if bias.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"bias dtype must be one of {_FLOAT_DTYPES}, got {bias.dtype}")
    num_strategies = bias.shape[0]
    if tuple(probs.shape) != (batch, num_strategies):
        raise ValueError(
            f"probs must be [{batch}, {num_strategies}], got shape {tuple(probs.shape)}"
        )
    if tuple(strength.shape) != (batch,):
        raise ValueError(f"strength must be [{batch}], got shape {tuple(strength.shape)}")
    if not probs.is_floating_point() or not strength.is_floating_point():
        raise ValueError("probs and strength must be floating point")
    if banned is not None:
        if banned.dim() != 2 or banned.shape[0] != batch:
            raise ValueError(f"banned must be [{batch}, K], got shape {tuple(banned.shape)}")
        if banned.is_floating_point() or banned.dtype == torch.bool:
            raise ValueError(f"banned must hold integer token ids, got {banned.dtype}")
    tensors = [logits, bias, probs, strength] + [t for t in (banned, out) if t is not None]
    if len({t.device for t in tensors}) != 1:
        raise ValueError("all tensors must be on one device")
    if out is not None and (out.shape != logits.shape or out.dtype != logits.dtype):
        raise ValueError("out must have the shape and dtype of logits")


def conditioned_rows(probs: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Bool [B]: rows that receive the mixture (λ ≠ 0 and Σ p(s) > 0, both finite)."""
    total = probs.float().sum(dim=1)
    lam = strength.float()
    return (lam != 0) & torch.isfinite(lam) & (total > 0) & torch.isfinite(total)


def _start_output(logits: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    if out is None:
        return logits.clone()
    if out.data_ptr() != logits.data_ptr():
        out.copy_(logits)
    return out


def _valid_bans(banned: torch.Tensor | None, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, token) pairs of the banned ids that fall in [0, V)."""
    if banned is None or banned.numel() == 0:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    banned = banned.long()
    keep = (banned >= 0) & (banned < vocab)
    rows = torch.arange(banned.shape[0], device=banned.device)[:, None].expand_as(banned)
    return rows[keep], banned[keep]


def _chunk_size(rows: int, num_strategies: int, vocab: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return max(1, min(int(chunk_size), vocab))
    chunk = _TILE_ELEMENTS // max(1, rows * num_strategies)
    return max(_MIN_CHUNK, min(chunk, vocab))


def _chunk_logits(
    logits: torch.Tensor,
    rows: torch.Tensor | None,
    start: int,
    stop: int,
    ban_slot: torch.Tensor,
    ban_token: torch.Tensor,
) -> torch.Tensor:
    """fp32 copy of logits[rows, start:stop] with the banned tokens of the chunk at -inf.

    ``ban_slot`` indexes into ``rows`` (not into the batch)."""
    part = logits[:, start:stop] if rows is None else logits[rows, start:stop]
    part = part.float()
    if ban_token.numel():
        inside = (ban_token >= start) & (ban_token < stop)
        if bool(inside.any()):
            if rows is None and logits.dtype == torch.float32:
                part = part.clone()  # a slice of fp32 logits is a view: never write through it
            part[ban_slot[inside], ban_token[inside] - start] = float("-inf")
    return part


def _bans_for_rows(
    ban_row: torch.Tensor, ban_token: torch.Tensor, rows: torch.Tensor, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bans restricted to ``rows``, with the row replaced by its position in ``rows``."""
    if ban_token.numel() == 0:
        return ban_row, ban_token
    slot_of_row = torch.full((batch,), -1, dtype=torch.long, device=rows.device)
    slot_of_row[rows] = torch.arange(rows.numel(), device=rows.device)
    slot = slot_of_row[ban_row]
    keep = slot >= 0
    return slot[keep], ban_token[keep]


def _log_probs(probs: torch.Tensor) -> torch.Tensor:
    """log of the per-row normalised probabilities; p = 0 gives -inf (that strategy is skipped)."""
    p = probs.float()
    return torch.log(p) - torch.log(p.sum(dim=1, keepdim=True))


def _mixture_rows_direct(
    logits: torch.Tensor,
    bias: torch.Tensor,
    probs: torch.Tensor,
    strength: torch.Tensor,
    rows: torch.Tensor,
    ban_row: torch.Tensor,
    ban_token: torch.Tensor,
    out: torch.Tensor,
    chunk_size: int | None,
) -> None:
    batch, vocab = logits.shape
    every_row = rows.numel() == batch
    index = None if every_row else rows
    slot, token = (
        (ban_row, ban_token) if every_row else _bans_for_rows(ban_row, ban_token, rows, batch)
    )
    num_strategies = bias.shape[0]
    chunk = _chunk_size(rows.numel(), num_strategies, vocab, chunk_size)
    lam = strength[rows].float()[:, None, None]  # [R, 1, 1]
    log_p = _log_probs(probs[rows])  # [R, S]

    # Pass 1: LSE_s per row. Reads logits and bias once; tile [R, S, chunk].
    lse = torch.full_like(log_p, float("-inf"))
    for start in range(0, vocab, chunk):
        stop = min(start + chunk, vocab)
        part = _chunk_logits(logits, index, start, stop, slot, token)  # [R, C]
        z = part[:, None, :] + lam * bias[None, :, start:stop].float()  # [R, S, C]
        lse = torch.logaddexp(lse, torch.logsumexp(z, dim=2))

    # a_s = log p(s) − LSE_s; -inf for p(s) = 0 or for a strategy with no allowed token.
    shift = torch.where(torch.isfinite(lse), log_p - lse, torch.full_like(lse, float("-inf")))

    # Pass 2: reads logits and bias again, writes the rows once.
    for start in range(0, vocab, chunk):
        stop = min(start + chunk, vocab)
        part = _chunk_logits(logits, index, start, stop, slot, token)
        t = shift[:, :, None] + lam * bias[None, :, start:stop].float()  # [R, S, C]
        result = (part + torch.logsumexp(t, dim=1)).to(out.dtype)
        if every_row:
            out[:, start:stop] = result
        else:
            out[rows, start:stop] = result


def _ban_unconditioned(
    out: torch.Tensor, active: torch.Tensor, ban_row: torch.Tensor, ban_token: torch.Tensor
) -> None:
    if ban_token.numel() == 0:
        return
    keep = ~active[ban_row]
    out[ban_row[keep], ban_token[keep]] = float("-inf")


def strategy_mixture_pytorch(
    logits: torch.Tensor,
    bias: torch.Tensor,
    probs: torch.Tensor,
    strength: torch.Tensor,
    banned: torch.Tensor | None = None,
    *,
    out: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Log of the strategy mixture, direct form; see the module docstring for the contract.

    Extra memory: a few [R, S, chunk] fp32 tiles (R conditioned rows; chunk chosen so a tile is
    about 4 MiB) plus O(R·S) accumulators, never [B, S, V]."""
    check_inputs(logits, bias, probs, strength, banned, out)
    out = _start_output(logits, out)
    active = conditioned_rows(probs, strength)
    ban_row, ban_token = _valid_bans(banned, logits.shape[1])
    _ban_unconditioned(out, active, ban_row, ban_token)
    rows = active.nonzero().flatten()
    if rows.numel():
        _mixture_rows_direct(
            logits, bias, probs, strength, rows, ban_row, ban_token, out, chunk_size
        )
    return out


# F depends only on the table and λ, and decoding calls with the same ones every step: keep the
# last few (each S·V fp32: 4.9 MB at S = 8, V = 151,936). An entry is valid for the very tensor
# it was made from (weak reference) at the same version (bumped by in-place writes).
_FACTOR_CACHE: OrderedDict[tuple, tuple[weakref.ref, torch.Tensor]] = OrderedDict()
_FACTOR_CACHE_SIZE = 4


def _strategy_factors(bias: torch.Tensor, lam: float, shift: torch.Tensor) -> torch.Tensor:
    key = (id(bias), bias._version, lam)
    entry = _FACTOR_CACHE.get(key)
    if entry is not None and entry[0]() is bias:
        _FACTOR_CACHE.move_to_end(key)
        return entry[1]
    factors = torch.exp(lam * (bias.float() - shift[:, None]))
    _FACTOR_CACHE[key] = (weakref.ref(bias), factors)
    while len(_FACTOR_CACHE) > _FACTOR_CACHE_SIZE:
        _FACTOR_CACHE.popitem(last=False)
    return factors


def _mixture_rows_factored(
    logits: torch.Tensor,
    bias: torch.Tensor,
    probs: torch.Tensor,
    lam: float,
    shift: torch.Tensor,
    rows: torch.Tensor,
    ban_row: torch.Tensor,
    ban_token: torch.Tensor,
    out: torch.Tensor,
    chunk_size: int | None,
) -> None:
    """Rows ``rows`` share strength ``lam``; ``shift`` [S] is c_s (max b_s for λ > 0, else min)."""
    batch, vocab = logits.shape
    every_row = rows.numel() == batch
    index = None if every_row else rows
    slot, token = (
        (ban_row, ban_token) if every_row else _bans_for_rows(ban_row, ban_token, rows, batch)
    )
    num_strategies = bias.shape[0]
    # Tiles here are [R, C] and [S, C], so the chunk can be S times longer than the direct one.
    chunk = _chunk_size(rows.numel(), 1, vocab, chunk_size)
    p = probs[rows].float()
    p = p / p.sum(dim=1, keepdim=True)
    neg_inf = float("-inf")

    factors = _strategy_factors(bias, lam, shift)  # F [S, V], values in (0, 1]

    def strategy_factors(start: int, stop: int) -> torch.Tensor:
        return factors[:, start:stop]

    # Pass 1: running max m and D_s = Σ_y exp(l(y) − m) F_s(y), rescaled when m grows.
    m = torch.full((rows.numel(),), neg_inf, device=logits.device)
    d = torch.zeros((rows.numel(), num_strategies), device=logits.device)
    for start in range(0, vocab, chunk):
        stop = min(start + chunk, vocab)
        part = _chunk_logits(logits, index, start, stop, slot, token)
        m_new = torch.maximum(m, part.amax(dim=1))
        m_safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
        d *= torch.exp(m - m_safe)[:, None]
        e = torch.sub(part, m_safe[:, None]).exp_()  # [R, C]
        d.addmm_(e, strategy_factors(start, stop).T)  # [R, S]
        m = m_new

    # log p(y) = l(y) − m + log Σ_s (p(s)/D_s) F_s(y). D_s = 0 only when no token is allowed.
    w = torch.where(d > 0, p / d, torch.zeros_like(d))
    m_safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    for start in range(0, vocab, chunk):
        stop = min(start + chunk, vocab)
        part = _chunk_logits(logits, index, start, stop, slot, token)
        q = (w @ strategy_factors(start, stop)).log_()  # [R, C]
        result = q.add_(part).sub_(m_safe[:, None]).to(out.dtype)
        if every_row:
            out[:, start:stop] = result
        else:
            out[rows, start:stop] = result


def strategy_mixture_factored(
    logits: torch.Tensor,
    bias: torch.Tensor,
    probs: torch.Tensor,
    strength: torch.Tensor,
    banned: torch.Tensor | None = None,
    *,
    out: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Same result as ``strategy_mixture_pytorch``, computed with one exp and one log per element
    for every group of rows that shares a strength (the common case: one default λ).

    Rows whose |λ| · (max b_s − min b_s) exceeds ``_SAFE_EXP_RANGE`` for some s fall back to the
    direct form. Extra memory: [R, C] and [S, C] fp32 tiles plus O(R·S)."""
    check_inputs(logits, bias, probs, strength, banned, out)
    out = _start_output(logits, out)
    active = conditioned_rows(probs, strength)
    ban_row, ban_token = _valid_bans(banned, logits.shape[1])
    _ban_unconditioned(out, active, ban_row, ban_token)
    rows = active.nonzero().flatten()
    if rows.numel() == 0:
        return out

    bias_max = bias.float().amax(dim=1)  # [S]
    bias_min = bias.float().amin(dim=1)
    spread = (bias_max - bias_min).max().item()
    lam_rows = strength[rows].float()
    direct = []
    for lam in torch.unique(lam_rows).tolist():
        group = rows[lam_rows == lam]
        if abs(lam) * spread > _SAFE_EXP_RANGE:
            direct.append(group)
            continue
        shift = bias_max if lam > 0 else bias_min
        _mixture_rows_factored(
            logits, bias, probs, lam, shift, group, ban_row, ban_token, out, chunk_size
        )
    if direct:
        _mixture_rows_direct(
            logits,
            bias,
            probs,
            strength,
            torch.cat(direct).sort().values,
            ban_row,
            ban_token,
            out,
            chunk_size,
        )
    return out
