"""The conversation as one classifier input: the latest seeker turns joined.

A crisis told in parts ("I keep thinking about ending it", then "I bought a rope today") is read
whole when the classifier sees the turns together. The screen (``services.risk.model``) and the
trainer (``tools.training.risk``) build that text with this one function, so the model is
trained on what it is served.
"""

from __future__ import annotations

from collections.abc import Sequence

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
