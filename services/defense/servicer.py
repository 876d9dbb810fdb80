"""DefenseClassifier: the response of a scored conversation, and the shared classifier servicer
(``services.classifier.servicer``) over ``DefenseModel``."""

from __future__ import annotations

from services.classifier.servicer import ClassifierServicer
from services.common.config import Settings
from services.common.convert import label_scores, timings
from services.common.domain import Scored
from services.common.labels import DEFENSE_ENUM_NAMES
from services.defense.model import DefenseModel
from solace.v1 import common_pb2, defense_pb2


def _response(scored: Scored, elapsed_ms: float) -> defense_pb2.ClassifyResponse:
    evidence = [
        defense_pb2.EvidenceSpan(turn_index=t, start=s, end=e, weight=float(w))
        for t, s, e, w in scored.extras.get("evidence", ())
    ]
    return defense_pb2.ClassifyResponse(
        level=scored.index + 1,
        probabilities=label_scores(scored.probabilities, DEFENSE_ENUM_NAMES),
        evidence=evidence,
        model=common_pb2.ModelInfo(name=scored.model_name, version=scored.model_version),
        timings=timings([("defense.model", elapsed_ms)]),
    )


def build_defense_servicer(settings: Settings) -> ClassifierServicer:
    model = DefenseModel(settings)
    return ClassifierServicer("Classify", model.classify, model.predict_batch, _response, settings)
