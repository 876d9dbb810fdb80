"""Writes a trained head (standardiser + dense layers + softmax) as the small ONNX graph that
``services.common.heads.ClassifierHead`` serves.

The standardiser is folded into the first layer's weights, so the graph is only
``Gemm (-> Relu -> Gemm)* -> Softmax``: a few hundred KB and a few microseconds per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def fold_scaler(
    weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) acting on (x - mean) / scale, rewritten to act on x directly. W is [D, H]."""
    folded = weight / scale[:, None]
    return folded, bias - mean @ folded


def write_head(
    path: Path,
    layers: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: Sequence[str],
    name: str,
    features: dict,
) -> None:
    """Save dense ``layers`` ([D, H] weights, [H] biases; ReLU between them) with a softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dim = int(layers[0][0].shape[0])
    nodes, inits = [], []
    current = "features"
    for i, (weight, bias) in enumerate(layers):
        inits.append(numpy_helper.from_array(np.asarray(weight, np.float32), f"W{i}"))
        inits.append(numpy_helper.from_array(np.asarray(bias, np.float32), f"b{i}"))
        out = f"z{i}"
        nodes.append(helper.make_node("Gemm", [current, f"W{i}", f"b{i}"], [out]))
        current = out
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"h{i}"]))
            current = f"h{i}"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    meta = {"labels": json.dumps(list(labels)), "name": name, "features": json.dumps(features)}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
