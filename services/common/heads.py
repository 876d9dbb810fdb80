"""Runtime of the small classifier heads that sit on top of the shared sentence encoder.

A head is an ONNX graph ``features [N, D] float32 -> probabilities [N, K] float32`` with the
softmax inside the graph. Any exporter may produce it (logistic regression, a small MLP): the
runtime only relies on the one input, the ``probabilities`` output, and the metadata below,
which ``tools.training`` writes into the model's ``metadata_props``:

- ``labels``: JSON list of the K label names, in output-column order;
- ``name``: the head's model name (``solace-strategy`` ...);
- ``features``: a JSON description of what the D input columns are (for the model card).

Heads are committed under ``services/<task>/weights/`` and loaded by path; a head's version is
a short content hash of its file, so two machines serving the same bytes report the same one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from services.common.encoder import file_version, ort_session
from services.common.errors import Unavailable


class ClassifierHead:
    """One committed ONNX head: ``probabilities(features)`` returns rows that sum to 1."""

    def __init__(self, path: Path | str, threads: int = 1) -> None:
        path = Path(path)
        if not path.is_file():
            raise Unavailable(
                f"classifier head {path} is missing; it is committed with the code "
                "(retrain it with `solace train <task>`)"
            )
        self.path = path
        self.version = file_version(path)
        self._session = ort_session(path, threads)
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise Unavailable(f"classifier head {path} must take one input, has {len(inputs)}")
        self._input = inputs[0].name
        dim = inputs[0].shape[1]
        self.input_dim: int | None = dim if isinstance(dim, int) else None
        meta = self._session.get_modelmeta().custom_metadata_map
        self.labels: tuple[str, ...] = tuple(json.loads(meta.get("labels", "[]")))
        self.name: str = meta.get("name", path.stem)
        self.features: dict = json.loads(meta.get("features", "{}"))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """[N, D] features -> [N, K] float32 probabilities."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or (self.input_dim is not None and x.shape[1] != self.input_dim):
            raise ValueError(f"{self.name} expects [N, {self.input_dim}] features, got {x.shape}")
        (probs,) = self._session.run(["probabilities"], {self._input: x})
        return np.asarray(probs, dtype=np.float32)


# The name the serving backbone issue uses for the same thing.
LinearHead = ClassifierHead
