"""StrategyPredictor: the response of a scored conversation, and the shared classifier servicer
(``services.classifier.servicer``) over ``StrategyModel``."""

from __future__ import annotations

from services.classifier.servicer import ClassifierServicer
from services.common.config import Settings
from services.common.convert import label_scores, timings
from services.common.domain import Scored
from services.common.labels import STRATEGY_ENUM_NAMES
from services.strategy.model import StrategyModel
from solace.v1 import common_pb2, strategy_pb2


def _response(scored: Scored, elapsed_ms: float) -> strategy_pb2.PredictResponse:
    return strategy_pb2.PredictResponse(
        strategy=scored.index + 1,
        probabilities=label_scores(scored.probabilities, STRATEGY_ENUM_NAMES),
        model=common_pb2.ModelInfo(name=scored.model_name, version=scored.model_version),
        timings=timings([("strategy.model", elapsed_ms)]),
    )


def build_strategy_servicer(settings: Settings) -> ClassifierServicer:
    model = StrategyModel(settings)
    return ClassifierServicer("Predict", model.predict, model.predict_batch, _response, settings)
