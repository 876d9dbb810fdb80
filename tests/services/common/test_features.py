"""The embedding memo in front of the encoder: each distinct text encoded once, bounded, and
safe when the services call it from several worker threads at once."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from services.common.encoder import EMBEDDING_DIM
from services.common.features import MemoEmbed


class CountingEncoder:
    """Deterministic vectors (the text's length in every column) and a log of what it encoded."""

    def __init__(self) -> None:
        self.encoded: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.encoded.extend(texts)
        return np.stack([np.full(EMBEDDING_DIM, len(t), np.float32) for t in texts])


def test_each_distinct_text_is_encoded_once_and_rows_follow_the_request():
    encoder = CountingEncoder()
    memo = MemoEmbed(encoder)
    first = memo(["ab", "abc", "ab"])
    second = memo(["abc", "abcd"])
    assert encoder.encoded == ["ab", "abc", "abcd"]
    assert first[:, 0].tolist() == [2, 3, 2] and second[:, 0].tolist() == [3, 4]
    assert memo([]).shape == (0, EMBEDDING_DIM)


def test_the_oldest_text_is_evicted_at_capacity_and_the_answer_is_still_whole():
    encoder = CountingEncoder()
    memo = MemoEmbed(encoder, capacity=2)
    rows = memo(["a", "bb", "ccc"])  # more distinct texts than the memo holds
    assert rows[:, 0].tolist() == [1, 2, 3]
    memo(["ccc"])  # still held
    memo(["a"])  # evicted: encoded again
    assert encoder.encoded == ["a", "bb", "ccc", "a"]


def test_concurrent_callers_always_get_their_own_rows():
    encoder = CountingEncoder()
    memo = MemoEmbed(encoder, capacity=8)  # small: threads evict each other's texts
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(300):
                texts = ["x" * int(n) for n in rng.integers(1, 40, size=5)]
                assert memo(texts)[:, 0].tolist() == [len(t) for t in texts]
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
