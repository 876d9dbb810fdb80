"""What the classifier reads besides each turn: the latest seeker turns joined, and a long
turn's parts.

A crisis told in parts ("I keep thinking about ending it", then "I bought a rope today") is read
whole when the classifier sees the turns together. The screen (``services.risk.model``) and the
trainer (``tools.training.risk``) build that text with this one function, so the model is
trained on what it is served.

The other way round, one sentence of crisis inside a long post about ordinary life is diluted
when the whole post is read as one text (the encoder averages over its tokens): the screen also
reads a long turn as consecutive groups of sentences (``segments``).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.risk.modifiers import SENTENCE

# The conversation input keeps the newest seeker turns that fit this many characters (about the
# 96 tokens the classifier is fine-tuned on): the tokenizer truncates the end, which would drop
# the latest turn.
WINDOW_CHARS = 400
WINDOW_SEPARATOR = "\n"


def window_text(seeker_texts: Sequence[str], max_chars: int = WINDOW_CHARS) -> str | None:
    """The classifier's input for a conversation: the latest seeker turns, oldest first, as many
    as fit ``max_chars``; None when fewer than two fit (the turn's own row already reads it)."""
    kept: list[str] = []
    used = 0
    for text in reversed(seeker_texts):
        text = text.strip()
        if kept and used + len(text) > max_chars:
            break
        kept.append(text)
        used += len(text) + len(WINDOW_SEPARATOR)
    if len(kept) < 2:
        return None
    return WINDOW_SEPARATOR.join(reversed(kept))


def segments(text: str, max_chars: int) -> list[str]:
    """A turn longer than ``max_chars`` as consecutive groups of whole sentences, each of at most
    ``max_chars`` (a longer sentence stays whole); [] for a shorter turn or ``max_chars`` 0 (off),
    and for a turn that is one sentence, which the turn's own reading already covers."""
    text = text.strip()
    if max_chars <= 0 or len(text) <= max_chars:
        return []
    groups: list[str] = []
    current = ""
    # The rules' sentences: punctuation or a line break ends one (chat posts often have no
    # punctuation but one thought a line).
    for sentence in filter(None, (m.group().strip() for m in SENTENCE.finditer(text))):
        if current and len(current) + 1 + len(sentence) > max_chars:
            groups.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        groups.append(current)
    return groups if len(groups) > 1 else []
