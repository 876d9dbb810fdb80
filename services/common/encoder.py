"""The serving-time sentence encoder every classifier shares: all-MiniLM-L6-v2 as int8 ONNX.

Runs on ONNX Runtime with the ``tokenizers`` library only; nothing on this path imports torch.
The model is built once per machine by ``solace models build`` (see ``solace_cli.modelbuild``) into
``<models_dir>/encoder/``; mean pooling and L2 normalisation are inside the graph, so
``Encoder.embed`` returns unit-length float32 vectors.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.errors import Unavailable

EMBEDDING_DIM = 384
BUILD_COMMAND = "solace models build"


def file_version(path: Path, length: int = 12) -> str:
    """Short content hash of a model file: equal bytes give an equal version on every machine."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def ort_session(path: Path | bytes, threads: int) -> object:
    """An ONNX Runtime CPU session with a fixed thread budget (one setting for every model);
    ``path`` may also be a serialised model."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    # Replicas scale out as processes; a second thread pool per session only competes for cores.
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class Encoder:
    """Texts -> [N, 384] float32 unit vectors.

    Every text is cut to ``settings.max_seq_len`` tokens. ``version`` is a short hash of the
    ONNX file.

    Batch invariance: dynamic int8 quantisation picks one activation scale per tensor, so in a
    padded batch a text's vector would depend on its neighbours (cosine only ~0.99 to itself
    alone). ``embed`` therefore runs the graph once per text, with no padding at all: the
    answer for a text is the same at batch 1, inside a Ray Serve batch and in the training
    cache. On CPU this costs nothing: for mixed lengths it was faster than one padded batch
    (32 texts: 32 ms vs 43 ms on one thread), because no work is spent on padding.
    """

    name = "all-MiniLM-L6-v2-int8"

    def __init__(self, settings: Settings, model_path: Path | None = None) -> None:
        from tokenizers import Tokenizer

        folder = Path(settings.models_dir) / "encoder"
        # ``model_path``: another graph with this one's signature and vocabulary (the risk
        # screen's fine-tuned encoder), read with the built encoder's tokenizer.
        model_path = model_path or folder / "model.onnx"
        tokenizer_path = folder / "tokenizer.json"
        missing = [p.name for p in (model_path, tokenizer_path) if not p.is_file()]
        if missing:
            raise Unavailable(
                f"the sentence encoder is not built ({', '.join(missing)} missing in {folder}); "
                f"run `{BUILD_COMMAND}` first"
            )
        self.path = model_path
        self.max_seq_len = settings.max_seq_len
        self.version = file_version(model_path)
        self._session = ort_session(model_path, settings.onnx_threads)
        self._threads = settings.onnx_threads
        self._token_model: tuple[object, str] | None = None  # built on first token_states()
        self._token_lock = threading.Lock()
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads every text to a fixed 128 tokens; texts run one by
        # one here (see the class docstring), so no padding at all.
        tokenizer.enable_truncation(max_length=settings.max_seq_len)
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of each text ([CLS] ... [SEP], truncated), one int64 row per text."""
        return [
            np.asarray(e.ids, dtype=np.int64) for e in self._tokenizer.encode_batch(list(texts))
        ]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text, in the order given."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for row, ids in enumerate(self.token_ids(texts)):
            feed = {"input_ids": ids[None, :], "attention_mask": np.ones((1, ids.size), np.int64)}
            out[row] = self._session.run(["sentence_embedding"], feed)[0][0]
        return out

    def token_states(self, text: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """``embed([text])[0]`` (the same vector, bit for bit: the same graph runs); the last
        layer's token vectors ([n, 384], [CLS] and [SEP] included), whose mean, L2-normalised,
        is that embedding; and each token's (start, end) character offsets in ``text``, (0, 0)
        for [CLS] and [SEP]. One encoder run, through the graph with the pooling's input as a
        second output (built on first use).

        Occlusion by pooling: the mean over the tokens outside a span approximates the
        embedding of the text without that span, for the price of this one run instead of one
        run per span (the tokens still saw the span in attention, so it is an approximation)."""
        session, name = self._token_session()
        (encoding,) = self._tokenizer.encode_batch([text])
        ids = np.asarray(encoding.ids, dtype=np.int64)
        feed = {"input_ids": ids[None, :], "attention_mask": np.ones((1, ids.size), np.int64)}
        embedding, states = session.run(["sentence_embedding", name], feed)
        offsets = [(int(a), int(b)) for a, b in encoding.offsets]
        return embedding[0], np.asarray(states[0], dtype=np.float32), offsets

    def load_token_graph(self) -> None:
        """Build ``token_states``' graph now rather than on its first call (reading the model
        with ``onnx`` takes most of a second): a service that reads token states calls this at
        start, so the first request it answers is not the one that pays."""
        self._token_session()

    def _token_session(self) -> tuple[object, str]:
        with self._token_lock:
            if self._token_model is None:
                import onnx

                model = onnx.load(str(self.path))
                # Mean pooling reads the last LayerNormalization's output (the token vectors).
                norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
                if not norms:
                    raise Unavailable(f"{self.path} has no LayerNormalization to read tokens from")
                name = norms[-1].output[0]
                model.graph.output.append(
                    onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                )
                self._token_model = (ort_session(model.SerializeToString(), self._threads), name)
            return self._token_model


_cache: dict[tuple[str, str, int, int], Encoder] = {}
_cache_lock = threading.Lock()


def get_encoder(settings: Settings, model_path: Path | None = None) -> Encoder:
    """The process-wide encoder for these settings (and ``model_path``, default the built
    shared encoder): loaded once, shared by every model that reads it."""
    path = str(model_path.resolve()) if model_path is not None else ""
    models = str(Path(settings.models_dir).resolve())
    key = (models, path, settings.onnx_threads, settings.max_seq_len)
    with _cache_lock:
        encoder = _cache.get(key)
        if encoder is None:
            encoder = Encoder(settings, model_path)
            _cache[key] = encoder
        return encoder


def clear_encoder_cache() -> None:
    """Forget loaded encoders (after a rebuild, or between tests)."""
    with _cache_lock:
        _cache.clear()
