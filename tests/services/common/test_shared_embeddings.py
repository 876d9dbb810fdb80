"""Embeddings shared between the processes of one machine: what one process stores another
reads bit for bit, a rewritten slot reads as a miss and never as another text's vector, and a
service's memo reads the machine's cache before it encodes."""

from __future__ import annotations

import multiprocessing
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from services.common.config import Settings
from services.common.features import MemoEmbed, memo_embed
from services.common.shared_embeddings import SharedEmbeddings, open_shared_embeddings

DIM = 384


def _vector(text: str) -> np.ndarray:
    """A unit vector that only ``text`` has."""
    rng = np.random.default_rng(zlib.crc32(text.encode()))  # the same in every process
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def test_what_one_process_stores_another_reads_bit_for_bit(tmp_path: Path) -> None:
    path = tmp_path / "cache.bin"
    writer, reader = SharedEmbeddings(path, DIM, 64), SharedEmbeddings(path, DIM, 64)
    vector = _vector("I lost my job.")
    assert reader.get("I lost my job.") is None
    writer.put("I lost my job.", vector)
    got = reader.get("I lost my job.")
    assert got is not None and got.dtype == np.float32
    assert np.array_equal(got, vector)
    assert reader.get("I lost my job") is None  # another text: a miss


def test_a_newer_text_replaces_an_older_one_in_its_slot(tmp_path: Path) -> None:
    cache = SharedEmbeddings(tmp_path / "one-slot.bin", DIM, 1)
    cache.put("first", _vector("first"))
    cache.put("second", _vector("second"))
    assert cache.get("first") is None
    assert np.array_equal(cache.get("second"), _vector("second"))


def _hammer(path: str, texts: list[str], seconds: float) -> None:
    cache = SharedEmbeddings(Path(path), DIM, 1)
    vectors = [_vector(t) for t in texts]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for text, vector in zip(texts, vectors, strict=True):
            cache.put(text, vector)


def test_a_slot_rewritten_by_other_processes_never_reads_as_another_texts_vector(
    tmp_path: Path,
) -> None:
    # Two processes keep rewriting the only slot with their own texts while this one reads.
    path = tmp_path / "contended.bin"
    cache = SharedEmbeddings(path, DIM, 1)
    texts = [["a1", "a2", "a3"], ["b1", "b2", "b3"]]
    expected = {t: _vector(t) for group in texts for t in group}
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_hammer, args=(str(path), g, 2.0)) for g in texts]
    for w in writers:
        w.start()
    hits = reads = 0
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            for text, vector in expected.items():
                got = cache.get(text)
                reads += 1
                if got is not None:
                    hits += 1
                    assert np.array_equal(got, vector), f"{text} read another text's vector"
    finally:
        for w in writers:
            w.join(10)
    assert reads > 1000 and hits > 0


def test_a_memo_reads_the_machine_cache_before_it_encodes(tmp_path: Path) -> None:
    shared_path = tmp_path / "services.bin"
    encoded: dict[str, list[str]] = {"risk": [], "strategy": []}

    def encoder_of(service: str):
        def embed(texts):
            encoded[service].extend(texts)
            return np.stack([_vector(t) for t in texts])

        return embed

    risk = MemoEmbed(encoder_of("risk"), shared=SharedEmbeddings(shared_path, DIM, 256))
    strategy = MemoEmbed(encoder_of("strategy"), shared=SharedEmbeddings(shared_path, DIM, 256))
    newest = "Honestly, I can't sleep. It's been 3 weeks."
    first = risk([newest])
    second = strategy(["Job loss and money worries", newest])
    assert encoded == {"risk": [newest], "strategy": ["Job loss and money worries"]}
    assert np.array_equal(first[0], second[1])
    # put() shares too: a vector that came from elsewhere (defense's token-states run).
    strategy.put("from defense", _vector("from defense"))
    assert np.array_equal(risk(["from defense"])[0], _vector("from defense"))
    assert encoded["risk"] == [newest]


def test_sharing_is_off_with_no_directory_and_where_it_cannot_map(tmp_path: Path) -> None:
    assert open_shared_embeddings("", "v1", DIM) is None
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    assert open_shared_embeddings(str(blocked), "v1", DIM) is None


@pytest.mark.usefixtures("model_settings")
def test_serving_memos_share_one_file_per_encoder_build(
    model_settings: Settings, tmp_path: Path
) -> None:
    from dataclasses import replace

    from services.common.encoder import get_encoder

    settings = replace(
        model_settings, shared_embeddings_dir=str(tmp_path), shared_embeddings_max_age_s=120.0
    )
    encoder = get_encoder(settings)
    first, second = memo_embed(encoder, settings), memo_embed(encoder, settings)
    assert first._shared.max_age_s == 120.0
    text = "My best friend stopped answering my messages. It's been 12 days."
    vector = first([text])[0]
    (path,) = tmp_path.iterdir()
    assert encoder.version in path.name
    assert np.array_equal(second._shared.get(text), vector)
    assert np.array_equal(vector, encoder.embed([text])[0])


def test_one_defense_replicas_run_serves_another(model_settings: Settings, tmp_path: Path) -> None:
    """The newest seeker turn is encoded once on the machine: one defense replica's run leaves
    its embedding and its clause-occluded embeddings shared, and another replica's level and
    evidence then need no encoder run, with the answer it gives on its own. (The risk screen
    runs its own fine-tuned encoder, so it shares nothing with the defense classifier.)"""
    from dataclasses import replace

    from services.common.domain import Conversation, Turn
    from services.defense.model import DefenseModel

    shared = replace(model_settings, shared_embeddings_dir=str(tmp_path))
    newest = "Honestly, it's fine, everyone has problems, but I keep busy so I don't think."
    conversation = Conversation(
        turns=(
            Turn("seeker", "My dad passed away last month."),
            Turn("supporter", "I'm so sorry. How have you been coping?"),
            Turn("seeker", newest),
        )
    )
    alone = DefenseModel(model_settings).classify(conversation)

    DefenseModel(shared).classify(conversation)
    defense = DefenseModel(shared)
    runs: list[str] = []

    class NoEncoding:
        version = defense.encoder.version

        def embed(self, texts):
            runs.extend(texts)
            raise AssertionError("the defense classifier encoded a text")

        def token_states(self, text):
            runs.append(text)
            raise AssertionError("the defense classifier ran the encoder")

    defense.encoder = NoEncoding()
    defense._embed._embed = defense.encoder.embed
    together = defense.classify(conversation)
    assert runs == []
    assert together.probabilities == alone.probabilities
    assert together.extras["evidence"] == alone.extras["evidence"]


# -- privacy: owner-only, bounded in age, removed by the last process out ---------------------


def test_the_file_is_owner_only_even_where_a_readable_one_was_left(tmp_path: Path) -> None:
    path = tmp_path / "cache.bin"
    path.write_bytes(b"")
    path.chmod(0o644)  # as an earlier version under a loose umask left it
    cache = SharedEmbeddings(path, DIM, 4)
    assert path.stat().st_mode & 0o777 == 0o600
    cache.close()
    fresh = open_shared_embeddings(str(tmp_path), "v-mode", DIM, slots=4)
    assert fresh is not None
    assert fresh.path.stat().st_mode & 0o777 == 0o600


def test_a_symlink_planted_at_the_name_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.bin"
    target.write_bytes(b"someone else's file")
    (tmp_path / "cache.bin").symlink_to(target)
    with pytest.raises(OSError):
        SharedEmbeddings(tmp_path / "cache.bin", DIM, 4)
    assert target.read_bytes() == b"someone else's file"


class _Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_an_entry_older_than_the_max_age_is_not_served_and_is_zeroed(tmp_path: Path) -> None:
    clock = _Clock()
    path = tmp_path / "cache.bin"
    cache = SharedEmbeddings(path, DIM, 8, max_age_s=60, clock=clock)
    reader = SharedEmbeddings(path, DIM, 8, max_age_s=60, clock=clock)
    vector = _vector("I can't stop crying at night.")
    cache.put("I can't stop crying at night.", vector)
    clock.now += 59
    assert np.array_equal(reader.get("I can't stop crying at night."), vector)
    clock.now += 2
    assert reader.get("I can't stop crying at night.") is None
    # The sweep takes it out of the file itself, not just out of the answers.
    assert vector.tobytes() in path.read_bytes()
    assert cache.sweep() == 1
    assert vector.tobytes() not in path.read_bytes()


def test_a_file_left_with_old_entries_is_cleaned_when_opened(tmp_path: Path) -> None:
    clock = _Clock()
    path = tmp_path / "cache.bin"
    vector = _vector("my brother died")
    SharedEmbeddings(path, DIM, 8, max_age_s=60, clock=clock).put("my brother died", vector)
    clock.now += 3600  # the platform was killed an hour ago and left its file
    SharedEmbeddings(path, DIM, 8, max_age_s=60, clock=clock)
    assert vector.tobytes() not in path.read_bytes()


def test_the_last_process_to_close_the_file_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "cache.bin"
    first, second = SharedEmbeddings(path, DIM, 4), SharedEmbeddings(path, DIM, 4)
    first.put("hello", _vector("hello"))
    assert first.close() is False  # the other still has it
    assert path.exists()
    assert np.array_equal(second.get("hello"), _vector("hello"))
    assert second.close() is True
    assert not path.exists()
    assert second.get("hello") is None


def _open_and_exit(directory: str) -> None:
    cache = open_shared_embeddings(directory, "v-exit", DIM, slots=4)
    assert cache is not None
    cache.put("a seeker's turn", _vector("a seeker's turn"))


def test_a_process_that_exits_leaves_no_file(tmp_path: Path) -> None:
    child = multiprocessing.get_context("spawn").Process(
        target=_open_and_exit, args=(str(tmp_path),)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert list(tmp_path.iterdir()) == []


def test_remove_unused_leaves_a_file_a_live_process_holds(tmp_path: Path) -> None:
    from services.common.shared_embeddings import file_name, remove_unused

    held = SharedEmbeddings(tmp_path / file_name("v-held", DIM, 4), DIM, 4)
    left = tmp_path / file_name("v-left", DIM, 4)
    left.write_bytes(b"\0" * 64)  # a killed replica's file: nobody holds it
    assert remove_unused(str(tmp_path), wait_s=0.5) == [left]
    assert held.path.exists()
    held.close()
