"""Builds KEMI's knowledge index (``services.generator.retrieval``) into
``<models_dir>/knowledge/``: ``python -m solace_cli.knowledge build [--force]``.

Sources, in the index's row order:

1. the project's built-in knowledge (``services.generator.knowledge.KNOWLEDGE``), always;
2. the HEAL knowledge graph (Welivita & Pu, 2022) from ``<data_dir>/heal`` when it is there:
   every stressor cluster ``t<n>`` becomes an entry with its topic keywords
   (``topic_dict.txt``) and, over the graph's edges, its most frequent seeker expectations
   (``expectations-stressors``), affective states (``affective_states``) and the feedback
   seekers gave to the responses linked to it (``stressors-responses`` → ``responses-feedback``).

HEAL's response node texts (``nodes/responses.txt``) are not in the shared data, so an entry
cannot quote what supporters said. It borrows the response ideas of the nearest built-in entry
(cosine of the two vectors at least ``BORROW_MIN_SCORE``) or of the general entry. The HEAL
example posts (``story``) are embedded through their title only and never stored.

Each vector encodes a short text: for a built-in entry its stressor, topic and keywords; for a
HEAL cluster its post title and topic keywords. The build takes about 3 s for the 932 HEAL
clusters of at least 5 posts (of 4,363) on one core and is skipped when the inputs, this module
and the encoder are unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.common.config import Settings, load_settings
from services.generator.knowledge import GENERAL, KNOWLEDGE, KnowledgeEntry
from services.generator.retrieval import (
    INDEX_FORMAT,
    IndexedEntry,
    KnowledgeIndex,
    TextEncoder,
    entry_text,
    index_dir,
)

HEAL_DIR = "heal"
# A HEAL cluster takes the response ideas of the nearest built-in entry only when they are
# about the same thing; otherwise the general entry's.
BORROW_MIN_SCORE = 0.45
TOP_KEYWORDS = 12
TOP_LINKS = 3
# Clusters seen in fewer posts are mostly noise (half of HEAL's 4,363 clusters have 2 posts);
# 5 keeps 932 that each stand for a recurring situation.
MIN_CLUSTER_POSTS = 5
# Expectations and feedback are quoted seeker sentences; keep the short, reusable ones.
MAX_EXPECTATION_CHARS = 90
# HEAL "affective states" include the supporters' intents; only the feelings describe the seeker.
_NOT_FEELINGS = frozenset(
    "neutral questioning agreeing suggesting acknowledging consoling sympathizing encouraging "  # noqa: SIM905
    "wishing caring prepared".split()
)
# Cluster keywords are stored for the trace and expectations reach LLM prompts; words about
# self-harm or its means are kept out of both (the risk layer, not KEMI, handles such turns).
_UNSAFE_WORDS = frozenset(
    "painless method methods pills pill overdose od rope hang hanging noose gun guns shoot "  # noqa: SIM905
    "bridge jump jumping cut cutting blade razor bleach poison tylenol kill suicide suicidal "
    "die dying".split()
)
# A plain sentence: starts with a letter, no HTML entities or markup left from Reddit.
_PLAIN = re.compile(r"^[A-Za-z][^&<>#*\[\]]*$")
_TITLE = re.compile(r"^\s*\|([^|\n]{3,200})\|")


def _nodes(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["nodes"]


def _edges(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["edges"]


def _top(counter: Counter[str], n: int) -> tuple[str, ...]:
    # Ties by text, so two builds of the same data give the same entries.
    return tuple(label for label, _ in sorted(counter.items(), key=lambda x: (-x[1], x[0]))[:n])


def _quotable(text: str, *, question: bool = False) -> bool:
    """A seeker's sentence that may be stored and shown to an LLM: short, plain, no self-harm
    words (and a question, for expectations)."""
    text = text.strip()
    return (
        (text.endswith("?") or not question)
        and len(text) <= MAX_EXPECTATION_CHARS
        and bool(_PLAIN.match(text))
        and not _UNSAFE_WORDS.intersection(re.findall(r"[a-z]+", text.lower()))
    )


def _safe_keywords(words: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        word = word.strip().lower()
        if word and word not in _UNSAFE_WORDS and word not in out:
            out.append(word)
    return tuple(out)


def read_heal(folder: Path, min_posts: int = MIN_CLUSTER_POSTS) -> list[tuple[IndexedEntry, str]]:
    """(entry with HEAL fields only, text to embed) per stressor cluster of at least
    ``min_posts`` posts, in node order. The response-idea fields are empty here;
    ``build_index`` fills them."""
    stressors = _nodes(folder / "nodes" / "stressors.txt")
    topics: dict[str, list[str]] = json.loads((folder / "topic_dict.txt").read_text())
    expectation_text = {n["id"]: n["label"] for n in _nodes(folder / "nodes" / "expectations.txt")}
    feedback_text = {n["id"]: n["label"] for n in _nodes(folder / "nodes" / "feedback.txt")}
    affect_text = {n["id"]: n["label"] for n in _nodes(folder / "nodes" / "affective_states.txt")}

    expectation_text = {k: t for k, t in expectation_text.items() if _quotable(t, question=True)}
    feedback_text = {k: t for k, t in feedback_text.items() if _quotable(t)}
    expectations: dict[str, Counter[str]] = defaultdict(Counter)
    for edge in _edges(folder / "edges" / "expectations-stressors.txt"):
        if edge["to"] in expectation_text:
            expectations[edge["from"]][expectation_text[edge["to"]]] += int(edge["value"])
    affects: dict[str, Counter[str]] = defaultdict(Counter)
    for edge in _edges(folder / "edges" / "affective_states.txt"):
        label = affect_text.get(edge["to"], "")
        if label and label.lower() not in _NOT_FEELINGS:
            affects[edge["from"]][label.lower()] += int(edge["value"])
    # Feedback reaches a stressor through its responses: weight each feedback by how often the
    # response answered this stressor times how often it drew that feedback.
    response_feedback: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for edge in _edges(folder / "edges" / "responses-feedback.txt"):
        if edge["to"] in feedback_text:
            response_feedback[edge["from"]].append((feedback_text[edge["to"]], int(edge["value"])))
    feedback: dict[str, Counter[str]] = defaultdict(Counter)
    for edge in _edges(folder / "edges" / "stressors-responses.txt"):
        for label, count in response_feedback.get(edge["to"], ()):
            feedback[edge["from"]][label] += int(edge["value"]) * count

    out: list[tuple[IndexedEntry, str]] = []
    for node in stressors:
        if int(node.get("value", 0)) < min_posts:
            continue
        node_id = str(node["id"])
        number = int(node_id.lstrip("t"))
        # topic_dict is keyed by cluster number from 0; stressor t<n> is cluster n - 1.
        words = topics.get(str(number - 1)) or str(node.get("label", "")).split(",")
        keywords = _safe_keywords(words)[:TOP_KEYWORDS]
        title_match = _TITLE.match(str(node.get("story", "")))
        title = title_match.group(1).strip() if title_match else ""
        entry = IndexedEntry(
            stressor=f"HEAL {node_id}: {', '.join(keywords[:5])}",
            keywords=keywords,
            topic="",
            experience="",
            suggestion="",
            information="",
            source="heal",
            node=node_id,
            expectations=_top(expectations[node_id], TOP_LINKS),
            affects=_top(affects[node_id], TOP_LINKS),
            feedback=_top(feedback[node_id], TOP_LINKS),
        )
        text = f"{title}. {', '.join(keywords)}" if title else ", ".join(keywords)
        out.append((entry, text))
    return out


def _borrow(entry: IndexedEntry, donor: KnowledgeEntry) -> IndexedEntry:
    return IndexedEntry(
        stressor=entry.stressor,
        keywords=entry.keywords,
        topic=donor.topic,
        experience=donor.experience,
        suggestion=donor.suggestion,
        information=donor.information,
        source=entry.source,
        node=entry.node,
        expectations=entry.expectations,
        affects=entry.affects,
        feedback=entry.feedback,
    )


def _fingerprint(paths: Sequence[Path], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_index(
    settings: Settings,
    *,
    force: bool = False,
    encoder: TextEncoder | None = None,
    builtin: Sequence[KnowledgeEntry] = KNOWLEDGE,
) -> dict[str, Any]:
    """Build (or verify) ``<models_dir>/knowledge``; returns the index's ``meta``.

    ``encoder`` defaults to the built ONNX encoder of ``settings``; the result is reused when
    its inputs (HEAL files, built-in knowledge, encoder version) are unchanged.
    """
    if encoder is None:
        from services.common.encoder import get_encoder

        encoder = get_encoder(settings)
    heal = Path(settings.data_dir) / HEAL_DIR
    heal_files = (
        sorted(p for p in heal.rglob("*.txt") if p.is_file()) if (heal / "nodes").is_dir() else []
    )
    builtin_json = json.dumps([IndexedEntry.from_builtin(e).to_json() for e in builtin])
    # This module is an input too: a change to its parameters or filters must rebuild.
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    fingerprint = _fingerprint(heal_files, f"{code}|{encoder.version}|{builtin_json}")
    folder = index_dir(settings)
    if not force and KnowledgeIndex.exists(folder):
        try:
            meta = KnowledgeIndex.load(folder).meta
        except (OSError, ValueError, KeyError):
            meta = {}
        if meta.get("fingerprint") == fingerprint:
            return {**meta, "rebuilt": False}

    started = time.perf_counter()
    entries = [IndexedEntry.from_builtin(e) for e in builtin]
    vectors = [encoder.embed([entry_text(e) for e in builtin])]
    sources = ["builtin"]
    borrowed = 0
    if heal_files:
        clusters = read_heal(heal)
        heal_vectors = encoder.embed([text for _, text in clusters])
        similarity = heal_vectors @ vectors[0].T if len(builtin) else None
        for row, (entry, _) in enumerate(clusters):
            donor: KnowledgeEntry = GENERAL
            if similarity is not None:
                best = int(np.argmax(similarity[row]))
                if similarity[row, best] >= BORROW_MIN_SCORE:
                    donor, borrowed = builtin[best], borrowed + 1
            entries.append(_borrow(entry, donor))
        vectors.append(heal_vectors)
        sources.append("heal")
    meta = {
        "format": INDEX_FORMAT,
        "fingerprint": fingerprint,
        "encoder_version": encoder.version,
        "sources": sources,
        "entries": len(entries),
        "heal_clusters": len(entries) - len(builtin),
        "heal_min_cluster_posts": MIN_CLUSTER_POSTS,
        "heal_with_builtin_ideas": borrowed,
        "heal_response_texts": "missing (nodes/responses.txt is not in the shared data)",
        "seconds": round(time.perf_counter() - started, 1),
    }
    KnowledgeIndex(tuple(entries), np.concatenate(vectors).astype(np.float32), meta).save(folder)
    return {**meta, "rebuilt": True}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="solace knowledge", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["build"])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    print(json.dumps(build_index(load_settings(), force=args.force), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
