"""Fused Triton kernel for the strategy mixture.

Computes, per conditioned row (λ ≠ 0, Σ p(s) > 0),

    log p(y) = l(y) + logsumexp_s( log p(s) − LSE_s + λ b_s(y) ),  LSE_s = logsumexp_y(l + λ b_s)

with the contract of ``reference.py`` (banned ids → -inf and excluded from the softmaxes,
rows that are not conditioned left bit-identical apart from their banned ids).

Launch: a grid of (B, NSPLIT) programs; program (b, j) owns the vocabulary slice
[j·SPLIT, (j+1)·SPLIT) of row b. NSPLIT grows when B is small so that a handful of rows still
fills the GPU (B = 1 would otherwise run on one SM).

1. ``_mixture_stats_kernel`` streams its slice once and keeps S online-softmax accumulators
   (running max m_s and sum d_s, in base 2) in registers; it writes 2·S floats.
2. ``_mixture_write_kernel`` merges the NSPLIT partial (m_s, d_s) of its row into LSE_s,
   streams its slice again and writes log p(y) once.

Memory traffic (what the benchmark divides by time to get GB/s), for B conditioned rows:

    logits read twice        2 · B · V · sizeof(logits)
    log p written once       1 · B · V · sizeof(out)
    bias read twice          2 · S · V · sizeof(bias) per row *from L2*; from HBM between
                             2 · S · V · sizeof(bias) (every row hits L2) and
                             2 · B · S · V · sizeof(bias) (none does). All rows sweep the
                             vocabulary in the same order, so the table (4.9 MB at S = 8,
                             V = 151,936, fp32) is mostly served from L2; the benchmark counts
                             it once per pass.
    partial statistics       2 · B · NSPLIT · S · 4 bytes written and read: O(B·S)

Two reads of the logits are the minimum for an exact result: every output element needs all
S normalisers LSE_s, which depend on the whole row, so the row cannot be written before it has
been read once in full, and it does not fit on chip to be kept (151,936 fp32 = 594 KiB per row).
Extra memory is the O(B·S) statistics buffer, never [B, S, V].

Compute: 2·S + 1 transcendental ops per element (S exp2 per pass, one log2). On an H100 this
is close to the rate the special-function units sustain at full memory bandwidth in fp32 and
above it in bf16; the benchmark shows which bound a card hits.

This module imports without Triton; ``strategy_mixture_triton`` raises if Triton is missing.
"""

from __future__ import annotations

import math

import torch

from kernels.strategy_mixture.reference import check_inputs

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the environment
    triton = None
    tl = None

HAS_TRITON = triton is not None

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453

DEFAULT_BLOCK_V = 1024
DEFAULT_NUM_WARPS = 8


def _stub(*_args, **_kwargs):  # pragma: no cover
    raise RuntimeError("triton is not installed")


if HAS_TRITON:

    @triton.jit
    def _row_setup(probs_ptr, probs_stride, strength_ptr, row, S, S_PAD: tl.constexpr):
        s_offs = tl.arange(0, S_PAD)
        s_mask = s_offs < S
        p = tl.load(probs_ptr + row * probs_stride + s_offs, mask=s_mask, other=0.0)
        p = p.to(tl.float32)
        lam = tl.load(strength_ptr + row).to(tl.float32)
        total = tl.sum(p, axis=0)
        # NaN compares false everywhere, inf - inf is NaN: this rejects non-finite λ and Σp too.
        active = (lam != 0.0) & (lam - lam == 0.0) & (total > 0.0) & (total - total == 0.0)
        return s_offs, s_mask, p, lam, total, active

    @triton.jit
    def _ban_mask(banned_ptr, banned_stride, num_banned, row, offs):
        hit = offs < 0  # all False, with the block's shape
        for k in range(0, num_banned):
            token = tl.load(banned_ptr + row * banned_stride + k)
            hit = hit | (offs == token)
        return hit

    @triton.jit
    def _mixture_stats_kernel(
        logits_ptr,
        logits_stride,
        bias_ptr,
        bias_stride,
        probs_ptr,
        probs_stride,
        strength_ptr,
        banned_ptr,
        banned_stride,
        num_banned,
        stat_max_ptr,
        stat_sum_ptr,
        V,
        S,
        split_size,
        num_splits,
        S_PAD: tl.constexpr,
        BLOCK_V: tl.constexpr,
        HAS_BANNED: tl.constexpr,
    ):
        row = tl.program_id(0).to(tl.int64)  # row * stride may pass 2^31 at large B·V
        split = tl.program_id(1)
        s_offs, s_mask, _p, lam, _total, active = _row_setup(
            probs_ptr, probs_stride, strength_ptr, row, S, S_PAD
        )
        if active:
            lam2 = lam * 1.4426950408889634  # base-2 domain: exp2 is the native instruction
            v_start = split * split_size
            v_stop = tl.minimum(v_start + split_size, V)
            run_max = tl.full([S_PAD], float("-inf"), tl.float32)
            run_sum = tl.zeros([S_PAD], tl.float32)
            for start in range(v_start, v_stop, BLOCK_V):
                offs = start + tl.arange(0, BLOCK_V)
                v_mask = offs < v_stop
                x = tl.load(logits_ptr + row * logits_stride + offs, mask=v_mask, other=0.0)
                x2 = x.to(tl.float32) * 1.4426950408889634
                x2 = tl.where(v_mask, x2, float("-inf"))
                if HAS_BANNED:
                    x2 = tl.where(
                        _ban_mask(banned_ptr, banned_stride, num_banned, row, offs),
                        float("-inf"),
                        x2,
                    )
                b = tl.load(
                    bias_ptr + s_offs[:, None] * bias_stride + offs[None, :],
                    mask=s_mask[:, None] & v_mask[None, :],
                    other=0.0,
                ).to(tl.float32)
                z = x2[None, :] + lam2 * b  # [S_PAD, BLOCK_V]
                new_max = tl.maximum(run_max, tl.max(z, axis=1))
                # A max of -inf (nothing allowed yet) must not make -inf - -inf = NaN.
                safe_max = tl.where(new_max == float("-inf"), 0.0, new_max)
                run_sum = run_sum * tl.exp2(run_max - safe_max) + tl.sum(
                    tl.exp2(z - safe_max[:, None]), axis=1
                )
                run_max = new_max
            stat = (row * num_splits + split) * S_PAD + s_offs
            tl.store(stat_max_ptr + stat, run_max)
            tl.store(stat_sum_ptr + stat, run_sum)

    @triton.jit
    def _mixture_write_kernel(
        logits_ptr,
        logits_stride,
        out_ptr,
        out_stride,
        bias_ptr,
        bias_stride,
        probs_ptr,
        probs_stride,
        strength_ptr,
        banned_ptr,
        banned_stride,
        num_banned,
        stat_max_ptr,
        stat_sum_ptr,
        V,
        S,
        split_size,
        num_splits,
        S_PAD: tl.constexpr,
        SPLITS_PAD: tl.constexpr,
        BLOCK_V: tl.constexpr,
        HAS_BANNED: tl.constexpr,
        IN_PLACE: tl.constexpr,
    ):
        row = tl.program_id(0).to(tl.int64)  # row * stride may pass 2^31 at large B·V
        split = tl.program_id(1)
        s_offs, s_mask, p, lam, total, active = _row_setup(
            probs_ptr, probs_stride, strength_ptr, row, S, S_PAD
        )
        v_start = split * split_size
        v_stop = tl.minimum(v_start + split_size, V)
        if active:
            # Merge the partial (max, sum) of every split of this row: LSE_s in base 2.
            j = tl.arange(0, SPLITS_PAD)
            stat = (row * num_splits + j[:, None]) * S_PAD + s_offs[None, :]
            j_mask = (j < num_splits)[:, None]
            part_max = tl.load(stat_max_ptr + stat, mask=j_mask, other=float("-inf"))
            part_sum = tl.load(stat_sum_ptr + stat, mask=j_mask, other=0.0)
            row_max = tl.max(part_max, axis=0)
            safe_max = tl.where(row_max == float("-inf"), 0.0, row_max)
            row_sum = tl.sum(part_sum * tl.exp2(part_max - safe_max[None, :]), axis=0)
            # a_s = log2 p(s) − log2 Σp − LSE2_s; -inf for p(s) = 0 or no allowed token.
            keep = (p > 0.0) & (row_sum > 0.0)
            shift = tl.where(
                keep,
                tl.log2(tl.where(keep, p, 1.0))
                - tl.log2(total)
                - safe_max
                - tl.log2(tl.where(keep, row_sum, 1.0)),
                float("-inf"),
            )
            lam2 = lam * 1.4426950408889634
            for start in range(v_start, v_stop, BLOCK_V):
                offs = start + tl.arange(0, BLOCK_V)
                v_mask = offs < v_stop
                x = tl.load(logits_ptr + row * logits_stride + offs, mask=v_mask, other=0.0)
                b = tl.load(
                    bias_ptr + s_offs[:, None] * bias_stride + offs[None, :],
                    mask=s_mask[:, None] & v_mask[None, :],
                    other=0.0,
                ).to(tl.float32)
                t = shift[:, None] + lam2 * b  # [S_PAD, BLOCK_V]
                t_max = tl.max(t, axis=0)
                t_safe = tl.where(t_max == float("-inf"), 0.0, t_max)
                acc = tl.sum(tl.exp2(t - t_safe[None, :]), axis=0)  # 0 only if all s are -inf
                mix = tl.where(
                    acc > 0.0, t_safe + tl.log2(tl.where(acc > 0.0, acc, 1.0)), float("-inf")
                )
                y = x.to(tl.float32) + mix * 0.6931471805599453
                if HAS_BANNED:
                    y = tl.where(
                        _ban_mask(banned_ptr, banned_stride, num_banned, row, offs),
                        float("-inf"),
                        y,
                    )
                tl.store(
                    out_ptr + row * out_stride + offs,
                    y.to(out_ptr.dtype.element_ty),
                    mask=v_mask,
                )
        else:
            if IN_PLACE:
                if HAS_BANNED:
                    # Only this program writes this row's slice, so scalar stores cannot race.
                    for k in range(0, num_banned):
                        token = tl.load(banned_ptr + row * banned_stride + k)
                        inside = (token >= v_start) & (token < v_stop)
                        tl.store(
                            out_ptr + row * out_stride + token,
                            float("-inf"),
                            mask=inside,
                        )
            else:
                # Copy without converting: the row stays bit-identical.
                for start in range(v_start, v_stop, BLOCK_V):
                    offs = start + tl.arange(0, BLOCK_V)
                    v_mask = offs < v_stop
                    x = tl.load(logits_ptr + row * logits_stride + offs, mask=v_mask)
                    if HAS_BANNED:
                        x = tl.where(
                            _ban_mask(banned_ptr, banned_stride, num_banned, row, offs),
                            float("-inf"),
                            x,
                        )
                    tl.store(out_ptr + row * out_stride + offs, x, mask=v_mask)

else:  # pragma: no cover
    _mixture_stats_kernel = _mixture_write_kernel = _stub


def _num_programs_wanted(device: torch.device) -> int:
    if device.type == "cuda":
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        return 4 * sms
    return 1  # interpreter: no parallel hardware to fill


def plan_splits(
    batch: int, vocab: int, device: torch.device, block_v: int, num_splits: int | None
) -> tuple[int, int]:
    """(num_splits, split_size): split_size is a multiple of block_v covering the vocabulary."""
    blocks = math.ceil(vocab / block_v)
    if num_splits is None:
        num_splits = math.ceil(_num_programs_wanted(device) / max(batch, 1))
    num_splits = max(1, min(int(num_splits), blocks))
    split_size = math.ceil(blocks / num_splits) * block_v
    return math.ceil(vocab / split_size), split_size


def strategy_mixture_triton(
    logits: torch.Tensor,
    bias: torch.Tensor,
    probs: torch.Tensor,
    strength: torch.Tensor,
    banned: torch.Tensor | None = None,
    *,
    out: torch.Tensor | None = None,
    block_v: int = DEFAULT_BLOCK_V,
    num_splits: int | None = None,
    num_warps: int = DEFAULT_NUM_WARPS,
) -> torch.Tensor:
    """Log of the strategy mixture with the fused kernel; same contract as the reference.

    Works on CUDA tensors, or on CPU tensors when TRITON_INTERPRET=1 was set before Triton was
    imported. ``num_splits`` overrides how many programs share one row (tests use it)."""
    if not HAS_TRITON:
        raise RuntimeError("strategy_mixture_triton needs triton, which is not installed")
    check_inputs(logits, bias, probs, strength, banned, out)
    if block_v <= 0 or block_v & (block_v - 1):
        raise ValueError(f"block_v must be a power of two, got {block_v}")
    batch, vocab = logits.shape
    num_strategies = bias.shape[0]
    if logits.stride(1) != 1:
        if out is logits:
            raise ValueError("in-place needs logits with a contiguous last dimension")
        logits = logits.contiguous()
    if out is None:
        out = torch.empty_like(logits)
    elif out.stride(1) != 1:
        raise ValueError("out needs a contiguous last dimension")
    in_place = out.data_ptr() == logits.data_ptr()
    bias = bias if bias.stride(1) == 1 else bias.contiguous()
    probs = probs if probs.stride(1) == 1 else probs.contiguous()
    strength = strength.contiguous()
    if banned is None or banned.numel() == 0:
        has_banned, num_banned = False, 0
        banned = torch.zeros((batch, 1), dtype=torch.int32, device=logits.device)
    else:
        has_banned, num_banned = True, banned.shape[1]
        # Ids outside [0, V) never match a column; make them padding (-1) before narrowing.
        inside = (banned >= 0) & (banned < vocab)
        banned = torch.where(inside, banned, -1).to(torch.int32).contiguous()
    if batch == 0 or vocab == 0:
        return out

    splits, split_size = plan_splits(batch, vocab, logits.device, block_v, num_splits)
    s_pad = triton.next_power_of_2(num_strategies)
    stat_max = torch.empty((batch, splits, s_pad), dtype=torch.float32, device=logits.device)
    stat_sum = torch.empty_like(stat_max)
    grid = (batch, splits)
    common = (bias, bias.stride(0), probs, probs.stride(0), strength)
    bans = (banned, banned.stride(0), num_banned)
    _mixture_stats_kernel[grid](
        logits,
        logits.stride(0),
        *common,
        *bans,
        stat_max,
        stat_sum,
        vocab,
        num_strategies,
        split_size,
        splits,
        S_PAD=s_pad,
        BLOCK_V=block_v,
        HAS_BANNED=has_banned,
        num_warps=num_warps,
    )
    _mixture_write_kernel[grid](
        logits,
        logits.stride(0),
        out,
        out.stride(0),
        *common,
        *bans,
        stat_max,
        stat_sum,
        vocab,
        num_strategies,
        split_size,
        splits,
        S_PAD=s_pad,
        SPLITS_PAD=triton.next_power_of_2(splits),
        BLOCK_V=block_v,
        HAS_BANNED=has_banned,
        IN_PLACE=in_place,
        num_warps=num_warps,
    )
    return out
