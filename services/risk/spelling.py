"""Typo tolerance for the risk rules: a misspelt word one edit away from a word the detectors
look for is read as that word ("sucidie", "overdoes", "tabelts", "bridgee").

The vocabulary is every word of six letters or more in the detectors' and idioms' patterns, so
it follows the rules as they change and never lists a word by hand. A token is corrected only
when it is not a known English word (the encoder's whole-word vocabulary, so "after" is never
read as "rafter"), not itself a rule word, at least five letters long, and exactly one rule word
is one deletion, insertion or adjacent swap away; a substituted letter is accepted only for
words of eight letters or more. Ties are left alone.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

_WORD = re.compile(r"[a-z]+")
MIN_VOCAB = 6
MIN_TOKEN = 5
MIN_SUBSTITUTION = 8


@functools.cache
def _index() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """(vocabulary, deletion variant -> vocabulary words), built once from the patterns."""
    from services.risk.components import DETECTORS
    from services.risk.normalise import IDIOM_PATTERN

    sources = [d.pattern.pattern for d in DETECTORS] + [IDIOM_PATTERN.pattern]
    # Drop regex escapes (\b, \w, \s) before reading the words of a pattern.
    vocab = frozenset(
        w
        for source in sources
        for w in _WORD.findall(re.sub(r"\\[a-zA-Z]", " ", source))
        if len(w) >= MIN_VOCAB
    )
    variants: dict[str, set[str]] = {}
    for word in vocab:
        for variant in _deletions(word):
            variants.setdefault(variant, set()).add(word)
    return vocab, {k: frozenset(v) for k, v in variants.items()}


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _one_edit(token: str, word: str) -> bool:
    """Deletion, insertion or adjacent swap; a substitution only for long words."""
    if abs(len(token) - len(word)) > 1:
        return False
    if len(token) != len(word):
        return True  # the index found them one deletion apart
    diff = [i for i, (a, b) in enumerate(zip(token, word, strict=True)) if a != b]
    if len(diff) == 2 and diff[1] == diff[0] + 1:
        i = diff[0]
        return token[i] == word[i + 1] and token[i + 1] == word[i]
    return len(diff) == 1 and len(word) >= MIN_SUBSTITUTION


class Speller:
    """Corrects misspelt rule words. ``known`` are real words that are never corrected (the
    encoder's whole-word vocabulary: "after" must not become "rafter", nor "having" "shaving")."""

    def __init__(self, known: frozenset[str]) -> None:
        self._known = known
        self._cache: dict[str, str] = {}

    @classmethod
    def from_tokenizer(cls, path: Path) -> Speller | None:
        """The speller whose known words are the whole words of a WordPiece ``tokenizer.json``;
        None when the file is not there (the rules then read the text as written)."""
        if not path.is_file():
            return None
        vocab = json.loads(path.read_text(encoding="utf-8"))["model"]["vocab"]
        return cls(frozenset(w for w in vocab if w.isalpha() and w.isascii()))

    def correct_word(self, token: str) -> str:
        fixed = self._cache.get(token)
        if fixed is None:
            fixed = token if token in self._known else _closest(token)
            if len(self._cache) < _CACHE_WORDS:
                self._cache[token] = fixed
        return fixed

    def correct(self, text: str) -> str:
        """``text`` (lower case) with each misspelt word replaced by the one rule word it is
        one edit from."""
        return _WORD.sub(lambda m: self.correct_word(m.group()), text)


_CACHE_WORDS = 65536


def _closest(token: str) -> str:
    if len(token) < MIN_TOKEN:
        return token
    vocab, variants = _index()
    if token in vocab:
        return token
    candidates = set(variants.get(token, ()))  # a letter dropped from the word
    for variant in _deletions(token):
        if variant in vocab:
            candidates.add(variant)  # a letter added to the word
        candidates.update(variants.get(variant, ()))  # swapped or substituted
    found = [w for w in candidates if _one_edit(token, w)]
    return found[0] if len(found) == 1 else token
