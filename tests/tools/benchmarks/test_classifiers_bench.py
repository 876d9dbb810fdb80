"""``solace bench classifiers`` times the encoder on text it has not seen: no text repeats
across its calls, and the classifier it times for new text has no memo in front of its
encoder."""

from __future__ import annotations

from tools.benchmarks.classifiers import SENTENCES, fresh_batches


def test_no_text_is_sent_twice_across_the_timed_calls() -> None:
    batches = fresh_batches(32, 25)
    texts = [t for batch in batches for t in batch]
    assert [len(b) for b in batches] == [32] * 25
    assert len(set(texts)) == len(texts)
    # Still the benchmark's sentences, as a new turn of real traffic would carry them.
    assert all(any(s.rstrip(".").lower()[5:30] in t.lower() for s in SENTENCES) for t in texts)


def test_the_two_runtimes_get_different_texts() -> None:
    onnx, torch = fresh_batches(1, 50, seed=1), fresh_batches(1, 50, seed=1001)
    assert not {t for b in onnx for t in b} & {t for b in torch for t in b}
