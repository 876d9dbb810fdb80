"""KEMI's encoder retrieval: the index build (built-in knowledge, a small HEAL graph written by
the test) and retrieval with the real ONNX encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.config import Settings
from services.common.domain import Conversation, Turn
from services.common.encoder import get_encoder
from services.common.labels import strategy_index
from services.generator.knowledge import GENERAL, KeywordRetriever
from services.generator.model import GenerationRequest, GeneratorCore
from services.generator.retrieval import EncoderRetriever, KnowledgeIndex, make_retriever
from solace_cli.knowledge import build_index


def _write(path: Path, key: str, items: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: items}))


def write_heal(root: Path) -> None:
    """Three stressor clusters in HEAL's file layout; t3 is too rare to be indexed."""
    heal = root / "heal"
    _write(
        heal / "nodes" / "stressors.txt",
        "nodes",
        [
            {"id": "t1", "label": "landlord, eviction", "value": "40", "story": "|Evicted|..."},
            {"id": "t2", "label": "garden, plants", "value": "12", "story": "|My tomatoes|..."},
            {"id": "t3", "label": "rare, thing", "value": "2", "story": "|Rare|..."},
        ],
    )
    (heal / "topic_dict.txt").write_text(
        json.dumps(
            {
                "0": ["landlord", "eviction", "rent", "apartment", "evicted", "pills"],
                "1": ["garden", "plants", "tomatoes", "soil", "growing"],
                "2": ["rare", "thing"],
            }
        )
    )
    _write(
        heal / "nodes" / "expectations.txt",
        "nodes",
        [
            {"id": "i1", "label": "Where can I stay?", "value": "9"},
            {"id": "i2", "label": "Should I just overdose?", "value": "9"},
        ],
    )
    _write(
        heal / "nodes" / "feedback.txt", "nodes", [{"id": "f1", "label": "thanks.", "value": "3"}]
    )
    _write(
        heal / "nodes" / "affective_states.txt",
        "nodes",
        [
            {"id": "e1-t1", "label": "Afraid", "value": "5"},
            {"id": "e2-t1", "label": "Questioning", "value": "9"},
        ],
    )
    _write(
        heal / "edges" / "expectations-stressors.txt",
        "edges",
        [{"from": "t1", "to": "i1", "value": "3"}, {"from": "t1", "to": "i2", "value": "9"}],
    )
    _write(
        heal / "edges" / "affective_states.txt",
        "edges",
        [{"from": "t1", "to": "e1-t1", "value": "5"}, {"from": "t1", "to": "e2-t1", "value": "9"}],
    )
    _write(
        heal / "edges" / "stressors-responses.txt",
        "edges",
        [{"from": "t1", "to": "r7", "value": "2"}],
    )
    _write(
        heal / "edges" / "responses-feedback.txt",
        "edges",
        [{"from": "r7", "to": "f1", "value": "1"}],
    )
    _write(heal / "edges" / "expectations-responses.txt", "edges", [])


@pytest.fixture(scope="module")
def builtin_settings(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings whose index holds the built-in knowledge only (a machine without shared data)."""
    root = tmp_path_factory.mktemp("builtin")
    settings = model_settings.with_overrides(
        models_dir=str(root / "models"), data_dir=str(root / "no-data")
    )
    build_index(settings, encoder=get_encoder(model_settings))
    # The Generator needs the encoder beside the index; share the session's build.
    (root / "models" / "encoder").symlink_to(Path(model_settings.models_dir) / "encoder")
    return settings


@pytest.fixture(scope="module")
def retriever(builtin_settings: Settings, model_settings: Settings) -> EncoderRetriever:
    index = KnowledgeIndex.load(Path(builtin_settings.models_dir) / "knowledge")
    return EncoderRetriever(index, encoder=get_encoder(model_settings))


def test_builtin_index_without_shared_data(builtin_settings: Settings) -> None:
    index = KnowledgeIndex.load(Path(builtin_settings.models_dir) / "knowledge")
    assert index.meta["sources"] == ["builtin"]
    assert index.vectors.shape == (len(index.entries), 384)
    assert {e.source for e in index.entries} == {"builtin"}


async def test_retrieves_by_meaning_and_by_keyword(retriever: EncoderRetriever) -> None:
    # No keyword of the "pet loss" entry appears: the match is by meaning.
    (found,) = await retriever.retrieve("My old dog passed away yesterday", 1)
    assert found.entry.stressor == "pet loss"
    # The curated keyword "laid off" votes with the meaning.
    (found,) = await retriever.retrieve("I got laid off on Monday and I don't know what to do.")
    assert found.entry.stressor == "job loss"
    assert "laid off" in found.matched


async def test_a_conversations_repeated_query_is_encoded_once(
    builtin_settings: Settings, model_settings: Settings
) -> None:
    encoder = get_encoder(model_settings)
    encoded: list[str] = []

    class Counting:
        version = encoder.version

        def embed(self, texts):
            encoded.extend(texts)
            return encoder.embed(texts)

    index = KnowledgeIndex.load(Path(builtin_settings.models_dir) / "knowledge")
    retriever = EncoderRetriever(index, encoder=Counting())
    query = "My old dog passed away yesterday"
    first = await retriever.retrieve(query, 1)
    again = await retriever.retrieve(query, 1)
    assert [f.entry.stressor for f in first] == [f.entry.stressor for f in again] == ["pet loss"]
    assert encoded == [query], "the second request of the conversation found it in the memo"


async def test_unrelated_text_retrieves_nothing(retriever: EncoderRetriever) -> None:
    assert await retriever.retrieve("I like pizza and the weather is nice today", 3) == []
    assert await retriever.retrieve("   ", 3) == []


def test_heal_graph_entries(model_settings: Settings, tmp_path: Path) -> None:
    write_heal(tmp_path / "data")
    settings = model_settings.with_overrides(
        models_dir=str(tmp_path / "models"), data_dir=str(tmp_path / "data")
    )
    encoder = get_encoder(model_settings)
    meta = build_index(settings, encoder=encoder)
    assert meta["rebuilt"] and meta["sources"] == ["builtin", "heal"]
    assert meta["heal_clusters"] == 2  # t3 has too few posts
    assert build_index(settings, encoder=encoder)["rebuilt"] is False  # unchanged inputs

    index = KnowledgeIndex.load(tmp_path / "models" / "knowledge")
    heal = {e.node: e for e in index.entries if e.source == "heal"}
    evictions = heal["t1"]
    assert evictions.keywords[:3] == ("landlord", "eviction", "rent")
    assert "pills" not in evictions.keywords  # self-harm means are never stored
    assert evictions.expectations == ("Where can I stay?",)  # the unsafe one is dropped
    assert evictions.affects == ("afraid",)  # supporter intents are not feelings
    assert evictions.feedback == ("thanks.",)  # via stressor -> response -> feedback
    # Response texts are missing from HEAL: ideas are borrowed, here from a built-in entry.
    assert evictions.suggestion and evictions.topic
    assert heal["t2"].topic == GENERAL.topic  # gardening is near no built-in entry

    found = EncoderRetriever(index, encoder=encoder).search("My landlord is evicting me", 1)
    assert found[0].entry.node == "t1"


def test_make_retriever_falls_back_to_keywords(tmp_path: Path, builtin_settings: Settings) -> None:
    bare = Settings(models_dir=str(tmp_path), data_dir=str(tmp_path))
    assert isinstance(make_retriever(bare), KeywordRetriever)
    # An index is not enough without the encoder it needs.
    index_only = tmp_path / "index-only"
    KnowledgeIndex.load(Path(builtin_settings.models_dir) / "knowledge").save(
        index_only / "knowledge"
    )
    assert isinstance(make_retriever(Settings(models_dir=str(index_only))), KeywordRetriever)


def test_index_of_another_encoder_falls_back_to_keywords(
    builtin_settings: Settings, model_settings: Settings, tmp_path: Path
) -> None:
    index = KnowledgeIndex.load(Path(builtin_settings.models_dir) / "knowledge")
    stale = KnowledgeIndex(index.entries, index.vectors, {**index.meta, "encoder_version": "old"})
    found = EncoderRetriever(stale, settings=model_settings).search("I was laid off", 1)
    assert found[0].entry.stressor == "job loss"
    assert found[0].matched == ("laid off",)  # keyword matching answered


async def test_kemi_uses_the_encoder_index(builtin_settings: Settings) -> None:
    core = GeneratorCore(builtin_settings)
    request = GenerationRequest(
        conversation=Conversation(turns=(Turn("seeker", "My old dog passed away yesterday."),)),
        strategy=strategy_index("Providing Suggestions"),
        method="KEMI",
    )
    result = await core.generate(request)
    retrieve = next(step for step in result.trace if step.name == "kemi.retrieve")
    assert "pet loss via encoder" in retrieve.content
    assert not result.fell_back
