"""vLLM v1 logits processor that decodes under the strategy mixture.

Per request, through ``SamplingParams.extra_args``:

- ``strategy_probs``: p(s), a list of 8 non-negative numbers in the order of
  ``kernels.strategies.STRATEGIES``, or a mapping {strategy name: p}; normalised per row;
- ``strategy``: a strategy name or index, shorthand for a one-hot ``strategy_probs``;
- ``strategy_strength``: λ (default ``DEFAULT_STRENGTH``); 0 switches conditioning off;
- ``banned_token_ids``: token ids that must not be produced (→ -inf).

Requests without these keys are untouched. The processor is not argmax-invariant (the bias
moves the argmax), so vLLM applies it to greedy requests too.

Layout: ``ConditioningBatch`` keeps the per-row state and follows vLLM's persistent batch
(``update_state``: removed, then added, then moved); it is plain Python and tested without
vLLM. ``StrategyMixtureLogitsProcessor`` is the thin vLLM subclass, built on first access so
that this module imports where vLLM is absent. The bias table comes from
``vllm_config.additional_config["solace_strategy_bias_table"]`` or the environment variable
``SOLACE_STRATEGY_BIAS_TABLE`` (a file written by ``python -m kernels.bias_table``); it is checked
against the engine's tokenizer. ``make_logits_processor(path)`` binds a path explicitly::

    from vllm import LLM, SamplingParams
    from kernels.logits_processor import make_logits_processor

    llm = LLM(model, logits_processors=[make_logits_processor("table.npz")])
    params = SamplingParams(extra_args={"strategy_probs": probs, "strategy_strength": 1.5})
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kernels.strategies import NUM_STRATEGIES, strategy_index

DEFAULT_STRENGTH = 1.0
ENV_BIAS_TABLE = "SOLACE_STRATEGY_BIAS_TABLE"
CONFIG_BIAS_TABLE = "solace_strategy_bias_table"
KEYS = ("strategy_probs", "strategy", "strategy_strength", "banned_token_ids")


@dataclass(frozen=True)
class RowConditioning:
    """What one request asks for; ``None`` from ``parse_extra_args`` means "untouched"."""

    probs: tuple[float, ...]
    strength: float
    banned: tuple[int, ...] = ()


def parse_extra_args(extra_args: Mapping[str, Any] | None) -> RowConditioning | None:
    """The request's conditioning, or None when it asks for none. Raises ValueError on bad
    values, so vLLM rejects the request at the entrypoint (``validate_params``)."""
    if not extra_args or not any(key in extra_args for key in KEYS):
        return None
    probs_arg = extra_args.get("strategy_probs")
    hard = extra_args.get("strategy")
    if probs_arg is not None and hard is not None:
        raise ValueError("give strategy_probs or strategy, not both")
    if hard is not None:
        probs = [0.0] * NUM_STRATEGIES
        probs[strategy_index(hard)] = 1.0
    elif isinstance(probs_arg, Mapping):
        probs = [0.0] * NUM_STRATEGIES
        for name, value in probs_arg.items():
            probs[strategy_index(name)] = float(value)
    elif probs_arg is not None:
        probs = [float(value) for value in probs_arg]
        if len(probs) != NUM_STRATEGIES:
            raise ValueError(f"strategy_probs needs {NUM_STRATEGIES} values, got {len(probs)}")
    else:
        probs = [0.0] * NUM_STRATEGIES
    if any(not math.isfinite(p) or p < 0 for p in probs):
        raise ValueError("strategy_probs must be finite and non-negative")
    strength = float(extra_args.get("strategy_strength", DEFAULT_STRENGTH))
    if not math.isfinite(strength):
        raise ValueError("strategy_strength must be finite")
    banned_arg = extra_args.get("banned_token_ids") or ()
    banned = tuple(int(token) for token in banned_arg)
    if any(token < 0 for token in banned):
        raise ValueError("banned_token_ids must be non-negative token ids")
    conditioned = strength != 0 and sum(probs) > 0
    if not conditioned and not banned:
        return None
    return RowConditioning(tuple(probs), strength, tuple(sorted(set(banned))))


def _is_swap(direction: Any) -> bool:
    return str(getattr(direction, "name", direction)).upper().endswith("SWAP")


def _added_fields(entry: Any) -> tuple[int, Any]:
    """(batch index, sampling params) of an ``added`` entry. vLLM releases order the tuple
    differently ((index, params, prompt ids, output ids) in recent ones), so take the first int
    and the first object that carries ``extra_args``."""
    index = next((x for x in entry if isinstance(x, int) and not isinstance(x, bool)), None)
    params = next((x for x in entry if hasattr(x, "extra_args")), None)
    if index is None:
        raise ValueError(f"added entry without a batch index: {entry!r}")
    return index, params


class ConditioningBatch:
    """Per-row conditioning that follows vLLM's persistent batch.

    ``rows`` maps a batch index to its ``RowConditioning``. Beside it live preallocated CPU
    buffers (probs [capacity, S], strength [capacity]) that ``update`` edits only for the rows a
    batch update touches, so nothing is rebuilt from Python values on a decode step. What the
    kernel needs (the dense tensors on the logits' device, and the prepared fast step of
    ``_FactoredStep``) is derived from them once per batch change and cached until the next."""

    def __init__(self, num_strategies: int = NUM_STRATEGIES) -> None:
        self.num_strategies = num_strategies
        self.rows: dict[int, RowConditioning] = {}
        self.batch_size = 0
        self._probs: Any = None  # CPU fp32 [capacity, S], zeros where a row asks for nothing
        self._strength: Any = None  # CPU fp32 [capacity]
        self._tensors: Any = None
        self._tensor_key: Any = None
        self._step: Any = None  # _FactoredStep, or False when the fast step does not apply
        self._step_key: Any = None
        self._prepared: Any = None  # what apply_conditioning runs: a prepared step, or False
        self._prepared_key: Any = None

    def update(self, batch_update: Any) -> None:
        """Apply a vLLM ``BatchUpdate`` (or anything with ``batch_size``, ``removed``, ``added``
        and ``moved``); ``None`` means the batch did not change (vLLM's every-step call, which
        must stay free)."""
        if batch_update is None:
            return
        touched: set[int] = set()
        for index in batch_update.removed:
            if self.rows.pop(index, None) is not None:
                touched.add(index)
        for entry in batch_update.added:
            index, params = _added_fields(entry)
            row = parse_extra_args(getattr(params, "extra_args", None))
            old = self.rows.pop(index, None)
            if row is not None:
                self.rows[index] = row
            if old != row:
                touched.add(index)
        for source, target, direction in batch_update.moved:
            moving = self.rows.pop(source, None)
            staying = self.rows.pop(target, None)
            if moving is not None:
                self.rows[target] = moving
            if _is_swap(direction) and staying is not None:
                self.rows[source] = staying
            if moving is not None or staying is not None:
                touched.update((source, target))
        self.batch_size = int(getattr(batch_update, "batch_size", self.batch_size))
        if touched:
            self._write_rows(touched)
            self._tensors = None
            self._step = None
            self._prepared = None

    def _write_rows(self, indices: set[int]) -> None:
        """Copy the touched rows from ``rows`` into the preallocated buffers (zeros for a row
        that asks for nothing); the buffers grow by doubling, so a batch costs O(log B)
        allocations over its life."""
        import torch

        needed = max(indices) + 1
        capacity = 0 if self._probs is None else self._probs.shape[0]
        if needed > capacity:
            size = max(needed, 2 * capacity, 8)
            probs = torch.zeros((size, self.num_strategies), dtype=torch.float32)
            strength = torch.zeros((size,), dtype=torch.float32)
            if capacity:
                probs[:capacity] = self._probs
                strength[:capacity] = self._strength
            self._probs, self._strength = probs, strength
        for index in indices:
            row = self.rows.get(index)
            if row is None:
                self._probs[index] = 0.0
                self._strength[index] = 0.0
            else:
                self._probs[index] = torch.tensor(row.probs, dtype=torch.float32)
                self._strength[index] = row.strength

    def __bool__(self) -> bool:
        return bool(self.rows)

    def tensors(self, num_rows: int, device: Any, pin_memory: bool = False):
        """(probs [R, S] fp32, strength [R] fp32, banned [R, K] int32 or None) for ``num_rows``
        logits rows; rows without conditioning get zeros (the kernel leaves them untouched).
        Cached until the batch changes. The result is a snapshot, never a view of the live
        buffers: an asynchronous host-to-device copy must not see a later update."""
        import torch

        key = (num_rows, str(device))
        if self._tensors is not None and self._tensor_key == key:
            return self._tensors
        probs = torch.zeros((num_rows, self.num_strategies), dtype=torch.float32)
        strength = torch.zeros((num_rows,), dtype=torch.float32)
        if self._probs is not None:
            filled = min(num_rows, self._probs.shape[0])
            probs[:filled] = self._probs[:filled]
            strength[:filled] = self._strength[:filled]
        widest = max((len(r.banned) for i, r in self.rows.items() if i < num_rows), default=0)
        banned = None
        if widest:
            banned = torch.full((num_rows, widest), -1, dtype=torch.int32)
            for index, row in self.rows.items():
                if index < num_rows and row.banned:
                    banned[index, : len(row.banned)] = torch.tensor(row.banned, dtype=torch.int32)
        parts = [probs, strength, banned]
        if pin_memory:
            parts = [p.pin_memory() if p is not None else None for p in parts]
        parts = [p.to(device, non_blocking=True) if p is not None else None for p in parts]
        self._tensors, self._tensor_key = tuple(parts), key
        return self._tensors

    def conditioned_indices(self, num_rows: int) -> list[int]:
        """Sorted batch indices below ``num_rows`` that receive the mixture (λ ≠ 0, Σ p > 0)."""
        return sorted(
            i for i, r in self.rows.items() if i < num_rows and r.strength != 0 and sum(r.probs) > 0
        )

    def factored_step(self, logits: Any, bias: Any):
        """The prepared ``_FactoredStep`` for these logits, or None when the general
        dispatcher must run (bans, several strengths, a λ too large for the factored form, a
        tile too big for one pass, another backend chosen, ...). Rebuilt only when the batch,
        the logits' shape/dtype/device or the table changed."""
        if logits.dim() != 2:
            return None  # the dispatcher raises the proper error
        key = (
            logits.shape[0],
            logits.shape[1],
            logits.dtype,
            logits.device,
            id(bias),
            bias._version,
        )
        if self._step is None or self._step_key != key:
            self._step = _FactoredStep.build(self, logits, bias) or False
            self._step_key = key
        return self._step or None

    def prepared_step(self, logits: Any, bias: Any):
        """What ``apply_conditioning`` runs on a decode step: the ``_OneHotStep`` when every
        conditioned row asks for a single strategy, else the ``_FactoredStep`` when it applies,
        else None (the general dispatcher). Chosen and prepared once per batch state, logits
        shape/dtype/device and table; a step costs one key comparison to find it again."""
        shape = logits.shape
        key = (shape, logits.dtype, logits.device, id(bias), bias._version)
        if self._prepared is None or self._prepared_key != key:
            step = None
            if len(shape) == 2:  # otherwise the dispatcher raises the proper error
                step = _OneHotStep.build(self, logits, bias) or _FactoredStep.build(
                    self, logits, bias
                )
            self._prepared, self._prepared_key = step or False, key
        return self._prepared or None

    def one_hot_step(self, logits: Any, bias: Any):
        """The prepared ``_OneHotStep`` when every conditioned row asks for a single strategy
        and no row bans tokens, else None."""
        step = self.prepared_step(logits, bias)
        return step if isinstance(step, _OneHotStep) else None


class _FactoredStep:
    """The factored mixture (``strategy_mixture_factored``) prepared for one batch state: the
    conditioned rows, their normalised p(s) and the factors F_s = exp(λ (b_s − c_s)) are fixed
    until the batch changes, so a decode step is about ten tensor ops on the rows' slice, into
    buffers kept with the step, and no Python-side checks, grouping, ``unique`` or cache
    look-ups.

    It is the single-chunk, single-λ, no-bans case of the factored form, with the same formula
    (the shift by the row max comes before the log term is added, not after), so its results
    agree with the dispatcher's to fp32 rounding; every other case goes to the dispatcher.
    Unconditioned rows are not read or written, so they stay bit-identical."""

    __slots__ = (
        "_d",
        "_e",
        "_m",
        "_w",
        "factors",
        "factors_t",
        "index",
        "native",
        "num",
        "prefix",
        "probs",
    )

    @classmethod
    def build(cls, batch: ConditioningBatch, logits: Any, bias: Any) -> _FactoredStep | None:
        import torch

        from kernels.strategy_mixture.reference import _SAFE_EXP_RANGE, _TILE_ELEMENTS

        rows = _prepared_step_rows(batch, logits, bias)
        if not rows:
            return None
        vocab = logits.shape[1]
        strengths = {batch.rows[i].strength for i in rows}
        # One pass over the whole vocabulary: the dispatcher would also use a single chunk here
        # (its tiles are _TILE_ELEMENTS), so the prepared step does the same arithmetic.
        if len(strengths) != 1 or len(rows) * vocab > _TILE_ELEMENTS:
            return None
        (lam,) = strengths
        table = bias.float()
        high, low = table.amax(dim=1), table.amin(dim=1)
        if abs(lam) * float((high - low).max()) > _SAFE_EXP_RANGE:
            return None
        step = cls()
        step.factors = torch.exp(lam * (table - (high if lam > 0 else low)[:, None]))  # [S, V]
        step.factors_t = step.factors.T
        probs = torch.tensor([batch.rows[i].probs for i in rows], dtype=torch.float32)
        step.probs = (probs / probs.sum(dim=1, keepdim=True)).to(logits.device)
        _set_layout(step, rows, logits.device)
        # fp32 CPU logits take the fused native pass (cpu_mixture.c) where it builds: three
        # sweeps per row in place, no gather or scatter, no work buffers.
        step.native = None
        if logits.dtype == torch.float32 and logits.device.type == "cpu":
            from kernels.strategy_mixture import native

            found = native.load()
            if found is not None and table.shape[0] <= found.max_strategies:
                step.native = found
        if step.native is None:
            step._build_buffers(vocab)
        return step

    def _build_buffers(self, vocab: int) -> None:
        """Work buffers of the PyTorch pass, at most one tile (4 MB): a step allocates nothing."""
        import torch

        num, strategies, device = self.num, self.factors.shape[0], self.factors.device
        self._m = torch.empty((num, 1), dtype=torch.float32, device=device)
        self._e = torch.empty((num, vocab), dtype=torch.float32, device=device)
        self._d = torch.empty((num, strategies), dtype=torch.float32, device=device)
        self._w = torch.empty_like(self._d)

    def __call__(self, logits: Any) -> Any:
        """Write the mixture into the conditioned rows of ``logits``, in place."""
        import torch

        if self.native is not None and logits.stride(1) == 1:
            self.native.rows_(logits, self.index, self.num, self.factors, self.probs)
            return logits
        if self.native is not None:  # a strided view: the PyTorch pass needs its buffers
            self.native = None
            self._build_buffers(logits.shape[1])
        rows = _prepared_rows(self, logits)
        # fp32 rows of a view are rewritten in place; otherwise ``rows.float()`` or the gather
        # already made a copy. Five passes over [R, V] (max, shift, exp, log, add) into
        # buffers kept with the step: at a small vocabulary the step's cost is per operation.
        part = rows.float()
        # m: the row max, 0 where the row has no finite logit (as the factored path's m_safe).
        m = torch.amax(part, dim=1, keepdim=True, out=self._m)
        m.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        part.sub_(m)  # l − m
        e = torch.exp(part, out=self._e)  # [R, V]
        d = torch.mm(e, self.factors_t, out=self._d)  # D_s [R, S]
        # p(s)/D_s, 0 where D_s = 0 (no allowed token). D_s ≥ exp(−_SAFE_EXP_RANGE) otherwise,
        # so a finite quotient is never mistaken for 0.
        w = torch.div(self.probs, d, out=self._w).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        q = torch.mm(w, self.factors, out=e).log_()  # e is spent: its storage takes q
        part.add_(q)  # l − m + log Σ_s (p(s)/D_s) F_s
        if not self.prefix:
            logits.index_copy_(0, self.index, part.to(logits.dtype))
        elif part is not rows:
            rows.copy_(part)
        return logits


def _prepared_step_rows(batch: ConditioningBatch, logits: Any, bias: Any) -> list[int] | None:
    """The conditioned row indices when a prepared step may serve this batch (the factored
    backend, float tensors of matching width, no banned tokens); None sends it to the
    dispatcher, which also raises the proper error for bad shapes."""
    from kernels.strategy_mixture import choose_backend

    num_rows, vocab = logits.shape
    if bias.dim() != 2 or bias.shape[1] != vocab:
        return None
    if not logits.is_floating_point() or not bias.is_floating_point():
        return None
    if choose_backend(logits) != "factored":
        return None  # a forced backend (reference, triton) is honoured
    if any(r.banned for i, r in batch.rows.items() if i < num_rows):
        return None
    return batch.conditioned_indices(num_rows)


def _set_layout(step: Any, rows: list[int], device: Any) -> None:
    """Where ``step`` finds its rows: the common layouts (every row, or the first n) are a
    view, with no gather and no scatter; otherwise an index tensor."""
    import torch

    step.num = len(rows)
    step.prefix = rows == list(range(len(rows)))
    step.index = None if step.prefix else torch.tensor(rows, device=device)


def _prepared_rows(step: Any, logits: Any) -> Any:
    """The conditioned rows of ``logits``: a view for the common layouts (every row, or the
    first n), else a gathered copy."""
    if step.prefix:
        return logits if step.num == logits.shape[0] else logits[: step.num]
    return logits.index_select(0, step.index)


class _OneHotStep:
    """Rows that each ask for one strategy s (``strategy``, or a one-hot ``strategy_probs``):
    the mixture has one component, log softmax(logits + λ b_s), so with each row's λ b_s
    gathered once per batch state a decode step is an add and a fused log-softmax on the rows'
    slice — no exp/log pair through the factors, no matrix products, and any λ per row (no
    range limit: log-softmax is stable). Same value as the factored form to fp32 rounding.
    Unconditioned rows are not read or written, so they stay bit-identical."""

    __slots__ = ("bias_rows", "index", "num", "prefix")

    @classmethod
    def build(cls, batch: ConditioningBatch, logits: Any, bias: Any) -> _OneHotStep | None:
        import torch

        rows = _prepared_step_rows(batch, logits, bias)
        if not rows:
            return None
        strategies, strengths = [], []
        for index in rows:
            row = batch.rows[index]
            hot = [s for s, p in enumerate(row.probs) if p > 0]
            if len(hot) != 1:
                return None  # a real mixture: the factored step
            strategies.append(hot[0])
            strengths.append(row.strength)
        step = cls()
        table = bias.float()
        lam = torch.tensor(strengths, dtype=torch.float32, device=table.device)
        picked = table.index_select(0, torch.tensor(strategies, device=table.device))
        step.bias_rows = (picked * lam[:, None]).to(logits.device)  # λ_r b_{s_r}, [R, V]
        _set_layout(step, rows, logits.device)
        return step

    def __call__(self, logits: Any) -> Any:
        """Write log softmax(logits + λ b_s) into the conditioned rows of ``logits``, in place."""
        import torch

        rows = _prepared_rows(self, logits)
        # fp32 rows of a view are biased in place; otherwise ``rows.float()`` or the gather
        # already made a copy.
        work = rows.float()
        work.add_(self.bias_rows)
        # One fused pass (max, exp-sum, log, subtract). A row without any finite logit comes
        # out NaN; it stays −inf, as in the factored form (infinities are kept as they are).
        out = torch.log_softmax(work, dim=1)
        if self.prefix and out.dtype == rows.dtype:
            # The NaN clean-up writes the result back: one pass instead of two.
            torch.nan_to_num(out, nan=-math.inf, posinf=math.inf, neginf=-math.inf, out=rows)
            return logits
        out.nan_to_num_(nan=-math.inf, posinf=math.inf, neginf=-math.inf)
        if self.prefix:
            rows.copy_(out)
        else:
            logits.index_copy_(0, self.index, out.to(logits.dtype))
        return logits


def apply_conditioning(logits: Any, bias: Any, batch: ConditioningBatch, pin_memory: bool = False):
    """Write the mixture into ``logits`` in place for the conditioned rows; return ``logits``.

    Four costs: no conditioned or banned row → nothing (one ``bool``); every conditioned row on
    a single strategy, no bans → the prepared ``_OneHotStep`` (add, fused log-softmax); a
    mixture with one λ, no bans, a small vocabulary tile → the prepared ``_FactoredStep``;
    anything else → the general dispatcher with tensors cached per batch state."""
    if not batch:
        return logits
    step = batch.prepared_step(logits, bias)
    if step is not None:
        return step(logits)
    from kernels.strategy_mixture import strategy_mixture

    probs, strength, banned = batch.tensors(logits.shape[0], logits.device, pin_memory)
    return strategy_mixture(logits, bias, probs, strength, banned, out=logits)


def _load_bias(vllm_config: Any, device: Any, path: str | None):
    from kernels.bias_table import load_bias_table

    model_config = getattr(vllm_config, "model_config", None)
    if path is None:
        extra = getattr(vllm_config, "additional_config", None) or {}
        path = extra.get(CONFIG_BIAS_TABLE) or os.environ.get(ENV_BIAS_TABLE)
    if not path:
        raise ValueError(
            f"no strategy bias table: set additional_config[{CONFIG_BIAS_TABLE!r}] or "
            f"{ENV_BIAS_TABLE}, or use make_logits_processor(path)"
        )
    tokenizer = None
    if model_config is not None and getattr(model_config, "tokenizer", None):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(
            model_config.tokenizer,
            trust_remote_code=bool(getattr(model_config, "trust_remote_code", False)),
        )
    table = load_bias_table(path, tokenizer)
    vocab_size = model_config.get_vocab_size() if model_config is not None else None
    return table.to_tensor(vocab_size=vocab_size, device=device)


_PROCESSOR_CLASS = None


def _processor_class():
    global _PROCESSOR_CLASS
    if _PROCESSOR_CLASS is not None:
        return _PROCESSOR_CLASS
    from vllm.v1.sample.logits_processor import LogitsProcessor

    class StrategyMixtureLogitsProcessor(LogitsProcessor):
        """Strategy-mixture decoding per request; see ``kernels.logits_processor``."""

        bias_table_path: str | None = None

        @classmethod
        def validate_params(cls, sampling_params) -> None:
            parse_extra_args(getattr(sampling_params, "extra_args", None))

        def __init__(self, vllm_config, device, is_pin_memory: bool) -> None:
            self.device = device
            self.pin_memory = bool(is_pin_memory)
            self.bias = _load_bias(vllm_config, device, self.bias_table_path)
            self.batch = ConditioningBatch(self.bias.shape[0])
            if self.bias.device.type == "cpu":
                # Build (or find) the native mixture step now, with the engine, not inside
                # the first conditioned decode step (a compile takes about a second).
                from kernels.strategy_mixture import native

                native.load()

        def is_argmax_invariant(self) -> bool:
            return False

        def update_state(self, batch_update) -> None:
            self.batch.update(batch_update)

        def apply(self, logits):
            return apply_conditioning(logits, self.bias, self.batch, self.pin_memory)

    _PROCESSOR_CLASS = StrategyMixtureLogitsProcessor
    return _PROCESSOR_CLASS


def make_logits_processor(bias_table_path: str | os.PathLike[str]):
    """A ``StrategyMixtureLogitsProcessor`` subclass bound to one bias table file (for
    ``LLM(logits_processors=[...])``). Needs vLLM."""
    base = _processor_class()
    return type(base.__name__, (base,), {"bias_table_path": os.fspath(bias_table_path)})


def __getattr__(name: str):
    if name == "StrategyMixtureLogitsProcessor":
        return _processor_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
