"""KEMI's knowledge retrieval by meaning: the seeker's words and the knowledge index are compared
as sentence-encoder embeddings (the classifiers' ONNX all-MiniLM-L6-v2, 384-d unit vectors).

The index is built offline by ``solace_cli.knowledge.build_index`` into ``<models_dir>/knowledge/``:

- ``vectors.npz``: ``vectors`` float32 [N, 384], unit rows, one per entry;
- ``entries.json``: ``{"meta": {...}, "entries": [...]}``, the entries in row order.

Entries come from two places. The project's own built-in knowledge (``knowledge.KNOWLEDGE``) is
always in. When the HEAL graph is present (``<data_dir>/heal``), each HEAL stressor cluster is
added with its topic keywords and, through the graph's edges, the seeker expectations, affective
states and feedback linked to it. HEAL's response texts (``nodes/responses.txt``) are missing from
the shared data, so a HEAL entry borrows its response ideas (experience, suggestion, information)
from the nearest built-in entry, or the general one when none is near; what HEAL contributes is
*which* situation the seeker is in and what people in it expect and feel.

``make_retriever(settings)`` is what the Generator uses: this retriever when the index (and the
encoder it was built with) is there, the keyword retriever otherwise, so a fresh machine without
``solace knowledge build`` still answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from services.common.config import Settings
from services.common.features import MemoEmbed, memo_embed
from services.generator.knowledge import (
    KeywordRetriever,
    KnowledgeEntry,
    KnowledgeRetriever,
    Retrieved,
)
from services.generator.lexicon import find_cues, flip_pronouns, normalise

log = logging.getLogger("solace.generator.retrieval")

INDEX_DIR = "knowledge"
VECTORS_FILE = "vectors.npz"
ENTRIES_FILE = "entries.json"
INDEX_FORMAT = 1
# Cosine below which an entry is "not relevant". all-MiniLM-L6-v2 gives a seeker's sentence and
# the cluster of its situation about 0.45-0.75, and small talk or an unrelated topic up to ~0.4
# against the nearest of ~950 clusters; 0.42 keeps the first and lets KEMI fall back to general
# support on the second (see tests/services/generator/test_retrieval.py).
DEFAULT_MIN_SCORE = 0.42
# Built-in entries were written for this purpose and carry their own response ideas; at a near
# tie they should win over a HEAL cluster that only borrows them.
BUILTIN_BONUS = 0.05
# A built-in entry whose curated keywords the seeker used ("laid off") is relevant even when the
# sentence as a whole is not near its vector: keywords and meaning vote together.
KEYWORD_BONUS = 0.1


@dataclass(frozen=True, slots=True)
class IndexedEntry(KnowledgeEntry):
    """A knowledge entry of the encoder index.

    ``source`` is ``"builtin"`` or ``"heal"`` (``node`` is then the HEAL stressor id).
    ``expectations`` are what seekers in this situation ask for ("What do I do about it?"),
    ``affects`` the affective states HEAL links to it, ``feedback`` how seekers answered the
    responses that helped; all most frequent first and empty for built-in entries.
    """

    source: str = "builtin"
    node: str = ""
    expectations: tuple[str, ...] = ()
    affects: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexedEntry:
        names = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**values)

    @classmethod
    def from_builtin(cls, entry: KnowledgeEntry) -> IndexedEntry:
        return cls(**{f.name: getattr(entry, f.name) for f in fields(KnowledgeEntry)})


class TextEncoder(Protocol):
    """What the retriever needs of ``services.common.encoder.Encoder``."""

    version: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def entry_text(entry: KnowledgeEntry) -> str:
    """The text that stands for a built-in entry in the index (what its vector encodes).

    A seeker-like sentence ("job loss. I am struggling with losing my job.") sits much nearer
    to what seekers write than the keyword list does (cosine 0.43 vs 0.28 to "I lost my job last
    week and can't pay rent"): the encoder was trained on sentences.
    """
    return f"{entry.stressor}. I am struggling with {flip_pronouns(entry.topic)}."


def index_dir(settings: Settings) -> Path:
    return Path(settings.models_dir) / INDEX_DIR


@dataclass(frozen=True)
class KnowledgeIndex:
    """Entries and their unit vectors (row ``i`` is entry ``i``); ``meta`` says how it was
    built (``encoder_version``, ``sources``, counts)."""

    entries: tuple[IndexedEntry, ...]
    vectors: np.ndarray
    meta: dict[str, Any]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        # Write both files under temporary names and rename, so a reader never sees a vectors
        # file from one build beside the entries of another.
        vectors_tmp, entries_tmp = folder / f".{VECTORS_FILE}.tmp", folder / f".{ENTRIES_FILE}.tmp"
        with vectors_tmp.open("wb") as handle:  # a handle: np.savez would append ".npz"
            np.savez(handle, vectors=self.vectors.astype(np.float32))
        document = {"meta": self.meta, "entries": [e.to_json() for e in self.entries]}
        entries_tmp.write_text(json.dumps(document, ensure_ascii=False, indent=1))
        vectors_tmp.replace(folder / VECTORS_FILE)
        entries_tmp.replace(folder / ENTRIES_FILE)

    @classmethod
    def load(cls, folder: Path) -> KnowledgeIndex:
        document = json.loads((folder / ENTRIES_FILE).read_text())
        with np.load(folder / VECTORS_FILE, allow_pickle=False) as data:
            vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
        meta = document.get("meta", {})
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"{folder}: unsupported knowledge index format {meta.get('format')}")
        entries = tuple(IndexedEntry.from_json(e) for e in document["entries"])
        if vectors.ndim != 2 or vectors.shape[0] != len(entries):
            raise ValueError(
                f"{folder}: {vectors.shape[0]} vectors for {len(entries)} entries; rebuild it"
            )
        return cls(entries, vectors, meta)

    @staticmethod
    def exists(folder: Path) -> bool:
        return (folder / VECTORS_FILE).is_file() and (folder / ENTRIES_FILE).is_file()


class EncoderRetriever:
    """Nearest entries by cosine between the query's embedding and the index.

    ``encoder`` is loaded lazily from ``settings`` on the first query when not given, so
    building a Generator does not load the ONNX model before it is needed. Embedding runs in a
    worker thread: ONNX Runtime releases the GIL, and the event loop keeps serving.
    """

    name = "encoder"

    def __init__(
        self,
        index: KnowledgeIndex,
        *,
        encoder: TextEncoder | None = None,
        settings: Settings | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
    ) -> None:
        if encoder is None and settings is None:
            raise ValueError("EncoderRetriever needs an encoder or the settings to load one")
        self.index = index
        self.min_score = min_score
        self._encoder = encoder
        self._settings = settings
        self._unusable: str | None = None
        self._memo: MemoEmbed | None = None
        self._keywords = KeywordRetriever()
        self._builtin_rows = [i for i, e in enumerate(index.entries) if e.source == "builtin"]
        self._bonus = np.array(
            [BUILTIN_BONUS if e.source == "builtin" else 0.0 for e in index.entries],
            dtype=np.float32,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> EncoderRetriever:
        """The retriever over ``<models_dir>/knowledge`` (``FileNotFoundError`` when unbuilt)."""
        folder = index_dir(settings)
        if not KnowledgeIndex.exists(folder):
            raise FileNotFoundError(f"no knowledge index in {folder}; run `solace knowledge build`")
        return cls(KnowledgeIndex.load(folder), settings=settings, **kwargs)

    def _load_encoder(self) -> TextEncoder | None:
        """The encoder, loaded once; None (and keyword search from then on) when it cannot be
        loaded or is not the build the index was made with."""
        if self._encoder is None and self._unusable is None:
            from services.common.encoder import get_encoder
            from services.common.errors import Unavailable

            assert self._settings is not None
            try:
                encoder = get_encoder(self._settings)
            except Unavailable as exc:
                self._unusable = str(exc)
            else:
                built_with = self.index.meta.get("encoder_version")
                if built_with and built_with != encoder.version:
                    # Vectors of another encoder build live in another space: ranking by them
                    # would be noise.
                    self._unusable = (
                        f"the knowledge index was built with encoder {built_with}, this one is "
                        f"{encoder.version}; rebuild it with `solace knowledge build`"
                    )
                else:
                    self._encoder = encoder
            if self._unusable:
                log.warning("encoder retrieval off, using keywords: %s", self._unusable)
        return self._encoder

    def _embed(self, encoder: TextEncoder) -> MemoEmbed:
        """The encoder behind a memo: KEMI's first query of a conversation (its situation and
        first seeker turn) comes back with every later request of that conversation."""
        if self._memo is None:
            self._memo = memo_embed(encoder, self._settings, capacity=1024)
        return self._memo

    async def retrieve(self, query: str, k: int = 1) -> list[Retrieved]:
        return await asyncio.to_thread(self.search, query, k)

    def search(self, query: str, k: int = 1) -> list[Retrieved]:
        """``retrieve``, blocking: at most ``k`` entries at or above ``min_score``, best first."""
        if not query.strip() or k <= 0:
            return []
        encoder = self._load_encoder()
        if encoder is None:
            # Retrieval must never fail a reply: the composer fallback runs KEMI too.
            return self._keywords.search(query, k)
        (vector,) = self._embed(encoder)([query])
        scores = self.index.vectors @ vector + self._bonus
        text = normalise(query)
        for row in self._builtin_rows:
            if find_cues(text, self.index.entries[row].keywords):
                scores[row] += KEYWORD_BONUS
        order = np.argsort(-scores, kind="stable")[:k]
        found = []
        for row in order:
            score = float(scores[row])  # cosine plus the bonuses: a ranking score
            if score < self.min_score:
                break
            entry = self.index.entries[row]
            # What to show as "matched": the entry's keywords the seeker used, else its leading
            # keywords (a match by meaning shares no words), and always the score.
            words = find_cues(text, entry.keywords)[:3] or list(entry.keywords[:3])
            found.append(Retrieved(entry, score, (*words, f"score {score:.2f}")))
        return found


def make_retriever(settings: Settings) -> KnowledgeRetriever:
    """The encoder retriever when ``<models_dir>/knowledge`` holds an index and the encoder is
    built; the keyword retriever over the built-in knowledge otherwise."""
    folder = index_dir(settings)
    encoder_file = Path(settings.models_dir) / "encoder" / "model.onnx"
    if not KnowledgeIndex.exists(folder) or not encoder_file.is_file():
        return KeywordRetriever()
    try:
        return EncoderRetriever(KnowledgeIndex.load(folder), settings=settings)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("knowledge index unusable (%s); using keyword retrieval", type(exc).__name__)
        return KeywordRetriever()
