"""The strategy logits processor of the ``llamacpp`` engine: one sequence, numpy, on CPU.

llama-cpp-python calls a logits processor once per generated token with the sequence so far
(``input_ids``: the prompt, then every token generated) and that step's logits (``scores``,
float32 [V]); it may edit ``scores`` in place and returns them. This one adds

    λ_t · b,   b = Σ_s p(s) b_s   (the bias table's rows mixed by the request's strategy mixture)

where ``t`` counts the tokens generated before this step (0 at the first) and the strength
follows a schedule that keeps the text fluent (``BiasSchedule``):

- **full strength for the opening tokens** (``full_tokens`` = k), where a strategy shows: a
  question starts with "What", "How", "Have you"; a suggestion with "Maybe you could";
- **then exponential decay**: λ_t = λ · 2^(−(t − k) / half_life) for t ≥ k, and nothing at
  all once λ_t falls under 1% of λ (the step is then free). ``half_life`` 0 never decays
  (the constant bias of the vLLM processor);
- **no push on what was already said**: a token generated ``max_repeats`` times in this reply
  loses its *positive* bias for the rest of it (a negative bias stays), so the bias cannot
  drive a loop ("How? How? How?"); the engine's repeat penalty acts on top of it. 0 = off.

For a one-hot p this is exactly what ``kernels.strategy_mixture`` decodes (a constant shift
does not change a softmax); for a soft mixture it is the mixture of biases, not the mixture of
distributions (the approximation of the ``openai`` engine's ``logit_bias``): the fused mixture
costs a softmax per strategy per token, which one CPU stream cannot spare.

A processor holds one reply's state (the prompt length, the counts of generated tokens): make
one per generation (``StrategyBiasProcessor(row, schedule)``, cheap: the row is shared, not
copied). The prompt length is taken from the first call, when ``input_ids`` is the prompt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Under this share of λ the bias no longer moves greedy decoding; the step is skipped.
NEGLIGIBLE = 0.01


@dataclass(frozen=True, slots=True)
class BiasSchedule:
    """λ, the opening tokens at full strength (k), the half-life of the decay after them in
    tokens (0 = constant), and the times a token may be generated before its positive bias
    goes (0 = never)."""

    strength: float
    full_tokens: int = 0
    half_life: float = 0.0
    max_repeats: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.strength) or self.strength < 0:
            raise ValueError("strength must be a non-negative number")
        if self.full_tokens < 0 or self.max_repeats < 0:
            raise ValueError("full_tokens and max_repeats must not be negative")
        if not math.isfinite(self.half_life) or self.half_life < 0:
            raise ValueError("half_life must be a non-negative number")

    def strength_at(self, t: int) -> float:
        """λ_t for the token after ``t`` generated ones (0 once it is negligible)."""
        if t < self.full_tokens or self.half_life == 0:
            return self.strength
        factor = 2.0 ** (-(t - self.full_tokens) / self.half_life)
        return self.strength * factor if factor >= NEGLIGIBLE else 0.0

    @property
    def active(self) -> bool:
        return self.strength > 0


class StrategyBiasProcessor:
    """``(input_ids, scores) -> scores`` for llama-cpp-python's ``LogitsProcessorList``: adds
    ``schedule.strength_at(t) · row`` to ``scores`` in place (see the module docstring). ``row``
    is float32 [V'] with V' ≤ V (wider logits than the tokenizer get no bias past V').

    Per call it touches only the row's nonzero entries (a table built from ESConv has about
    9,300 of SmolLM2's 49,152: a token the corpus never uses has log-odds 0) through
    preallocated buffers: no allocation on a decode step. ``finished`` turns True once the
    schedule gives 0 for every later token; ``ProcessorList`` then stops calling it."""

    def __init__(self, row: np.ndarray, schedule: BiasSchedule) -> None:
        row = np.asarray(row, dtype=np.float32)
        self.size = row.size
        self.schedule = schedule
        self.prompt_tokens: int | None = None
        self.finished = not schedule.active
        self._index = np.flatnonzero(row)
        self._values = row[self._index]  # a copy: muting edits it, never the shared table
        self._scratch = np.empty_like(self._values)
        self._end = _end_of(schedule)
        self._counted = 0  # generated tokens already counted
        self._counts: dict[int, int] = {}
        self._muted: list[int] = []  # tokens whose positive bias is off for the rest

    @property
    def muted(self) -> tuple[int, ...]:
        return tuple(self._muted)

    def _count(self, input_ids: np.ndarray) -> int:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        generated = len(input_ids) - self.prompt_tokens
        limit = self.schedule.max_repeats
        if limit:
            for token in input_ids[self.prompt_tokens + self._counted : len(input_ids)]:
                token = int(token)
                seen = self._counts.get(token, 0) + 1
                self._counts[token] = seen
                if seen == limit:
                    at = int(np.searchsorted(self._index, token))
                    found = at < self._index.size and self._index[at] == token
                    if found and self._values[at] > 0:
                        self._values[at] = 0.0
                        self._muted.append(token)
        self._counted = generated
        return generated

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        t = self._count(input_ids)
        if self._end is not None and t + 1 >= self._end:
            self.finished = True  # the next token's strength is 0, and every later one's
        strength = self.schedule.strength_at(t)
        if strength == 0:
            return scores
        np.multiply(self._values, np.float32(strength), out=self._scratch)
        index, values = self._index, self._scratch
        if scores.shape[-1] < self.size:
            keep = index < scores.shape[-1]
            index, values = index[keep], values[keep]
        scores[..., index] += values
        return scores


def _end_of(schedule: BiasSchedule) -> int | None:
    """The first t from which ``strength_at`` is 0 for good (None: never)."""
    if not schedule.active:
        return 0
    if schedule.half_life == 0:
        return None
    t = schedule.full_tokens
    while schedule.strength_at(t) > 0:
        t += 1
    return t


class ProcessorList(list):
    """llama-cpp-python's ``LogitsProcessorList`` (a list of processors it calls in turn) that
    skips a ``finished`` processor: once the bias has decayed to nothing, a step costs no
    pass over the logits (llama-cpp-python copies the list's result back into its candidate
    array after each processor)."""

    def __iter__(self):
        return (p for p in super().__iter__() if not getattr(p, "finished", False))

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores
