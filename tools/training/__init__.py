"""Training of the classifier heads (``solace train <task>``): sklearn on cached ONNX embeddings.

Each trainer reads its dataset from ``settings.data_dir`` and writes ``head.onnx`` and
``metrics.json`` into ``services/<task>/weights/`` (committed, so serving needs no data).
"""

from __future__ import annotations

import json

from services.common.config import Settings

TASKS = ("strategy", "defense", "risk")


def train(task: str, settings: Settings) -> dict:
    """Train ``task`` (strategy | defense | risk | all); print and return its metrics."""
    from solace_cli.modelbuild import build_models

    if task not in (*TASKS, "all"):
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)} or all")
    build_models(settings)  # the heads are trained on the encoder's embeddings
    results = {}
    for name in TASKS if task == "all" else (task,):
        if name == "strategy":
            from tools.training.strategy import train_strategy as trainer
        elif name == "defense":
            from tools.training.defense import train_defense as trainer
        else:
            from tools.training.risk import train_risk as trainer
        print(f"training {name} ...")
        results[name] = trainer(settings)
        print(json.dumps(results[name], indent=2))
    return results if task == "all" else results[task]
