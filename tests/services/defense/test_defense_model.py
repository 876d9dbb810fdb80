"""DefenseModel: a probability per PsyDefConv level and evidence spans inside the target turn."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.config import Settings
from services.common.domain import Conversation, Turn
from services.common.labels import DEFENSE_LEVELS
from services.common.seeker_turns import clause_spans
from services.defense.model import DefenseModel

TARGET = (
    "It's fine, it's not a big deal, everyone has problems. "
    "But honestly I just keep busy so I don't have to think about it."
)
CONV = Conversation(
    turns=(
        Turn("seeker", "My dad passed away last month."),
        Turn("supporter", "I'm so sorry. How have you been coping?"),
        Turn("seeker", TARGET),
    )
)


@pytest.fixture(scope="module")
def model(model_settings: Settings) -> DefenseModel:
    return DefenseModel(model_settings)


def test_probabilities_cover_every_level(model: DefenseModel) -> None:
    scored = model.classify(CONV)
    assert len(scored.probabilities) == len(DEFENSE_LEVELS)
    assert sum(scored.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert scored.index == max(range(len(DEFENSE_LEVELS)), key=scored.probabilities.__getitem__)


def test_evidence_spans_point_inside_the_target_turn(model: DefenseModel) -> None:
    evidence = model.classify(CONV).extras["evidence"]
    assert evidence, "a multi-clause turn should yield evidence"
    weights = [w for *_, w in evidence]
    assert weights == sorted(weights, reverse=True)
    assert weights[0] == pytest.approx(1.0)
    for turn_index, start, end, weight in evidence:
        assert turn_index == 2
        assert 0 <= start < end <= len(TARGET)
        assert TARGET[start:end].strip() == TARGET[start:end]
        assert 0 < weight <= 1


def test_one_clause_turn_is_its_own_evidence(model: DefenseModel) -> None:
    conv = Conversation(turns=(Turn("seeker", "I don't want to talk about it"),))
    assert model.classify(conv).extras["evidence"] == [(0, 0, len(conv.turns[0].text), 1.0)]


def test_clause_offsets_are_code_points() -> None:
    text = "Ça va 😊, mais je suis fatigué."
    spans = clause_spans(text)
    assert [text[s:e] for s, e in spans] == ["Ça va 😊,", "mais je suis fatigué."]


def test_deterministic_and_batch_consistent(model: DefenseModel) -> None:
    single = model.classify(CONV)
    batch = model.predict_batch([Conversation(turns=(Turn("seeker", "Hi"),)), CONV])
    assert batch[1].probabilities == single.probabilities
    assert batch[1].extras == single.extras


def test_greeting_is_no_defense(model: DefenseModel) -> None:
    scored = model.classify(Conversation(turns=(Turn("seeker", "Hi"),)))
    assert DEFENSE_LEVELS[scored.index] == "No Defense"


def test_minimising_turn_reads_as_a_defense(model: DefenseModel) -> None:
    # "It's fine, not a big deal ... keep busy so I don't have to think about it": denial and
    # minimising, so one of the defensive levels (Action .. Obsessional), not a greeting or
    # mature coping.
    level = DEFENSE_LEVELS[model.classify(CONV).index]
    assert level in DEFENSE_LEVELS[1:7]


def test_level_encodes_only_the_target_turn(model_settings: Settings) -> None:
    # One encoder call of one text per request keeps the level within the latency budget.
    from services.common.encoder import get_encoder

    seen: list[list[str]] = []
    encoder = get_encoder(model_settings)

    def embed(texts):
        seen.append(list(texts))
        return encoder.embed(texts)

    DefenseModel(model_settings, embed=embed).predict_batch([CONV], evidence=False)
    assert seen == [[TARGET]]


def test_dmrs_cues_mark_their_phrases() -> None:
    from services.defense.features import DEFENSE_CUES, N_DEFENSE_CUES, defense_cues

    names = list(DEFENSE_CUES)
    cues = defense_cues("It's fine, whatever. Everyone always lets me down lol")
    assert cues.shape == (N_DEFENSE_CUES,)
    for name in ("minimising", "absolutes", "humour"):
        assert cues[names.index(name)] == 1.0
    assert defense_cues("Thanks for listening, bye!")[names.index("farewell")] == 1.0
    assert defense_cues("I work in an office.")[names.index("humour")] == 0.0


def test_head_reads_the_features_the_service_builds(model: DefenseModel) -> None:
    from services.defense.features import defense_features

    assert model.head.input_dim == defense_features([CONV], model._embed).shape[1]


def test_occluding_a_clause_moves_the_embedding_toward_the_text_without_it(
    model_settings: Settings,
) -> None:
    from services.common.encoder import get_encoder
    from services.common.seeker_turns import encode_turn

    encoder = get_encoder(model_settings)
    spans = clause_spans(TARGET)
    full = encoder.embed([TARGET])[0]
    occluded = encode_turn(encoder, TARGET)  # over evidence_clauses: all of them here
    assert len(occluded) == len(spans) >= 3
    for (start, end), vector in zip(spans, occluded, strict=True):
        without = encoder.embed([(TARGET[:start] + TARGET[end:]).strip()])[0]
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
        # Closer to the real embedding of the shortened text than the full text's is.
        assert float(vector @ without) > float(full @ without)


def test_level_and_evidence_cost_one_encoder_run_whatever_the_clauses(
    model_settings: Settings,
) -> None:
    # One token-states run gives the level's embedding and the evidence; no clause, and not
    # the target turn itself, is encoded again.
    from services.common.encoder import get_encoder
    from services.common.features import MemoEmbed

    encoder = get_encoder(model_settings)
    embedded: list[list[str]] = []
    runs: list[str] = []

    class Counting:
        version = encoder.version

        def embed(self, texts):
            embedded.append(list(texts))
            return encoder.embed(texts)

        def token_states(self, text):
            runs.append(text)
            return encoder.token_states(text)

    model = DefenseModel(model_settings)
    model.encoder = Counting()
    model._embed = MemoEmbed(model.encoder.embed)
    (scored,) = model.predict_batch([CONV])
    assert embedded == [] and runs == [TARGET]
    assert scored.extras["evidence"]
    assert (
        scored.probabilities
        == DefenseModel(model_settings).predict_batch([CONV], evidence=False)[0].probabilities
    )
    model.predict_batch([CONV])  # the same target turn again: from the memos
    assert embedded == [] and runs == [TARGET]
