"""Output screening: every generated reply is checked before it leaves; a failing reply is replaced
by the composer's safe reply and the reasons are recorded (as reason ids, never the text).

Checks, each a reason id:

- ``output:method_information``: means, doses, heights, "painless ways": never allowed.
- ``output:harmful_encouragement``: telling anyone to hurt themselves; at risk (level at least
  ``RiskPolicy.risk_ignorance_from``, default LOW) also cheering the seeker on ("go for it",
  "that's the spirit") or joining the death wish ("me too").
- ``output:dismissive``: "just get over it", "stop being dramatic", "you're overreacting";
  at risk (as above) also "cheer up" / "just think positive".
- ``output:medical_directive``: unauthorised medical directions (stop/start/change medication,
  doses, "you don't need therapy", diagnoses).
- ``output:risk_ignorance``: the seeker's turn shows risk (level at least
  ``RiskPolicy.risk_ignorance_from`` with a self-harm or hopelessness cue, or at least
  ``RiskPolicy.resources_at``, where the policy attaches crisis resources) and the reply neither
  acknowledges their feelings nor speaks to their safety. This is DiaSafety's "Risk Ignorance"
  category.

Every level this screen compares against comes from the safety policy (``services.safety.policy``,
the same object the router holds); it keeps no thresholds of its own.

An optional learned scorer (``RiskIgnoranceModel``, a logistic regression over hashed words that
``tools.evaluation.risk`` trains on DiaSafety) can add ``output:risk_ignorance_model``.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from services.common.domain import Conversation
from services.risk.rules import analyse_text, level_index, normalise
from services.safety.policy import RiskPolicy


@dataclass(frozen=True)
class OutputVerdict:
    """``ok`` False means: do not send the reply; ``reasons`` are reason ids."""

    ok: bool
    reasons: list[str] = field(default_factory=list)


_METHOD = re.compile(
    r"\b(?:lethal|fatal|deadly|toxic) (?:dose|amount|quantity|level)\b|"
    r"\b(?:painless|quickest|easiest|surest|best|fastest|quick|easy) (?:way|method|ways|methods) "
    r"(?:to (?:die|kill yourself|end it|end your life|commit suicide|overdose))\b|"
    r"\bhow to (?:kill yourself|overdose|tie a noose|hang yourself|slit)\b|"
    r"\b(?:hang|hanging) yourself\b|\bnoose\b|\bslit (?:your )?(?:wrists?|throat)\b|"
    r"\b(?:cut|cutting|slice) (?:along|down|vertically|lengthwise)\b|"
    r"\b(?:high|tall) enough to (?:die|kill)\b|"
    r"\b\d+ ?(?:feet|ft|metres|meters|m|floors|stories|storeys) (?:is|should be) "
    r"(?:enough|fatal)\b|"
    r"\bcarbon monoxide\b|\bexhaust fumes\b|\bhelium (?:bag|hood|tank)\b"
)
_DOSE = re.compile(r"\b\d+(?:\.\d+)? ?(?:mg|milligrams?|grams?|g|pills|tablets|ml|capsules)\b")
_DEATH_CONTEXT = re.compile(r"\b(?:die|dying|death|dead|overdose|lethal|fatal|kill|end it)\b")
_HARMFUL = re.compile(
    r"\b(?:kill|hurt|cut|harm|hang|shoot) yourself\b|\byou (?:deserve|should|ought) to "
    r"(?:die|suffer|be dead)\b|\bno one would miss you\b|\bnobody would miss you\b|"
    r"\b(?:the world|everyone) (?:would be|is) better (?:off )?without you\b"
)
_HARMFUL_AT_RISK = re.compile(
    r"\b(?:do it|go for it|go ahead|that is the spirit|good idea|sounds like a plan|"
    r"me too|same here|i want to die too|i feel the same|just do it|why not)\b"
)
_DISMISSIVE = re.compile(
    r"\bjust get over it\b|\bget over (?:it|yourself)\b|\bstop being (?:so )?(?:dramatic|sensitive|"
    r"a baby|a drama queen)\b|\byou are (?:just )?(?:overreacting|attention seeking|being dramatic|"
    r"being silly|weak|pathetic)\b|\b(?:man|toughen|suck it) up\b|\bit is not (?:that|a) "
    r"(?:bad|big deal)\b|\bothers have it (?:worse|harder)\b|\bsnap out of it\b|"
    r"\bstop (?:complaining|whining|feeling sorry for yourself)\b|\bnobody cares\b|\bgrow up\b|"
    r"\battention seek(?:ing|er)\b"
)
_DISMISSIVE_AT_RISK = re.compile(
    r"\bcheer up\b|\bjust (?:be happy|think positive|smile|relax)\b|\bthink positive\b|"
    r"\bit could be worse\b|\beveryone feels (?:like )?that\b"
)
_MEDICAL = re.compile(
    r"\b(?:stop|quit) (?:taking |using )?(?:your |the )?(?:medication|medications|meds|"
    r"antidepressants|pills|prescription|lithium|insulin|ssris?)\b|"
    r"\b(?:increase|double|up|lower|decrease|reduce|change|skip) (?:your )?(?:dose|dosage|meds|"
    r"medication)\b|"
    r"\btake (?:\d+|a few|some|more|extra) ?(?:mg|milligrams|pills|tablets|of your)\b|"
    r"\byou (?:do not|no longer) need (?:therapy|medication|meds|a doctor|a therapist|treatment|"
    r"your meds|help)\b|"
    r"\b(?:therapy|medication|meds|therapists?|psychiatrists?|doctors) (?:is|are) "
    r"(?:useless|a scam|pointless|not needed|a waste)\b|"
    r"\byou (?:definitely |clearly |probably |obviously )?(?:have|are) (?:bipolar|schizophreni\w*|"
    r"bpd|borderline|adhd|ocd|ptsd|clinical depression|a personality disorder|psychotic)\b|"
    r"\b(?:flush|throw away) (?:your|the) (?:pills|meds|medication)\b|\bself medicate\b|"
    r"\b(?:have|try|take) (?:a |some )?(?:drink|drinks|alcohol|weed|xanax|valium|sleeping pills)"
    r" (?:to|and) (?:calm|relax|forget|numb|sleep)\b"
)
_ACKNOWLEDGE = re.compile(
    r"\b(?:sorry|sounds|hear (?:you|that)|hearing|feel|feeling|feelings|understand|must be|"
    r"it is (?:okay|ok|understandable|valid)|not alone|here for you|here with you|hard|difficult|"
    r"painful|tough|heavy|overwhelming|valid|thank you for (?:sharing|telling)|care about you|"
    r"with you|you matter|matter to|glad you|makes sense|going through)\b"
)
_SAFETY = re.compile(
    r"\b(?:safe|safety|help|support|crisis|988|lifeline|hotline|helpline|samaritans|"
    r"talk to (?:someone|somebody|a)|reach out|someone you trust|professional|counsel\w*|"
    r"therap\w*|doctor|emergency|are you (?:thinking|planning|okay|ok|safe)|stay with|"
    r"call|text)\b"
)
_RISK_CUE_LINES = {
    "WISH_TO_BE_DEAD",
    "SUICIDAL_THOUGHTS",
    "METHOD",
    "INTENT",
    "PLAN",
    "BEHAVIOR",
}


def _context_shows_risk(conversation: Conversation, risk_level: str, policy: RiskPolicy) -> bool:
    if level_index(risk_level) >= level_index(policy.resources_at):
        return True
    if level_index(risk_level) < level_index(policy.risk_ignorance_from):
        return False
    analysis = analyse_text(conversation.last_seeker_text)
    # A cue the rules graded NONE is about someone else or explained away (a third party's
    # crisis, a negation): not the seeker's own risk.
    return any(
        r.source.startswith("rule:")
        and r.level != "NONE"
        and (r.line in _RISK_CUE_LINES or r.source in ("rule:self_harm", "rule:hopelessness"))
        for r in analysis.reasons
    )


def screen_output(
    conversation: Conversation,
    reply: str,
    risk_level: str,
    policy: RiskPolicy | None = None,
    learned: RiskIgnoranceModel | None = None,
) -> OutputVerdict:
    """Whether ``reply`` may go to the seeker of ``conversation``, screened at ``risk_level``."""
    policy = policy or RiskPolicy()
    text = normalise(reply)
    at_risk = level_index(risk_level) >= level_index(policy.risk_ignorance_from)
    reasons: list[str] = []
    if _METHOD.search(text) or (_DOSE.search(text) and _DEATH_CONTEXT.search(text)):
        reasons.append("output:method_information")
    if _HARMFUL.search(text) or (at_risk and _HARMFUL_AT_RISK.search(text)):
        reasons.append("output:harmful_encouragement")
    if _DISMISSIVE.search(text) or (at_risk and _DISMISSIVE_AT_RISK.search(text)):
        reasons.append("output:dismissive")
    if _MEDICAL.search(text):
        reasons.append("output:medical_directive")
    if _context_shows_risk(conversation, risk_level, policy):
        if not _ACKNOWLEDGE.search(text) and not _SAFETY.search(text):
            reasons.append("output:risk_ignorance")
        elif learned is not None and learned.unsafe(conversation.last_seeker_text, reply):
            reasons.append("output:risk_ignorance_model")
    return OutputVerdict(ok=not reasons, reasons=reasons)


# --- optional learned scorer ------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z']+")


def _features(context: str, response: str, dim: int) -> np.ndarray:
    """Hashed unigrams and bigrams of the response, plus the rule checks as extra columns."""
    vec = np.zeros(dim + 3, dtype=np.float32)
    tokens = _TOKEN.findall(normalise(response))
    grams = tokens + [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]
    for gram in grams:
        vec[zlib.crc32(gram.encode()) % dim] += 1.0
    norm = float(np.linalg.norm(vec[:dim]))
    if norm:
        vec[:dim] /= norm
    text = normalise(response)
    vec[dim] = float(bool(_ACKNOWLEDGE.search(text)))
    vec[dim + 1] = float(bool(_SAFETY.search(text)))
    vec[dim + 2] = float(bool(_HARMFUL_AT_RISK.search(text)))
    return vec


@dataclass
class RiskIgnoranceModel:
    """Logistic regression P(Unsafe | context, response) over ``_features``."""

    weights: np.ndarray
    bias: float
    dim: int = 4096
    threshold: float = 0.5

    def probability(self, context: str, response: str) -> float:
        z = float(_features(context, response, self.dim) @ self.weights + self.bias)
        return 1.0 / (1.0 + np.exp(-z))

    def unsafe(self, context: str, response: str) -> bool:
        return self.probability(context, response) >= self.threshold

    @classmethod
    def train(
        cls,
        rows: Sequence[tuple[str, str, int]],
        dim: int = 4096,
        l2: float = 1e-3,
        epochs: int = 300,
        lr: float = 0.5,
    ) -> RiskIgnoranceModel:
        """Full-batch gradient descent on (context, response, unsafe 0/1) rows; seconds on CPU."""
        x = np.stack([_features(c, r, dim) for c, r, _ in rows])
        y = np.asarray([label for _, _, label in rows], dtype=np.float32)
        w = np.zeros(x.shape[1], dtype=np.float32)
        b = 0.0
        for _ in range(epochs):
            p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
            grad = p - y
            w -= lr * (x.T @ grad / len(y) + l2 * w)
            b -= lr * float(grad.mean())
        return cls(weights=w, bias=b, dim=dim)

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights, bias=self.bias, dim=self.dim, threshold=self.threshold)

    @classmethod
    def load(cls, path: Path) -> RiskIgnoranceModel:
        data = np.load(path)
        return cls(
            weights=data["weights"],
            bias=float(data["bias"]),
            dim=int(data["dim"]),
            threshold=float(data["threshold"]),
        )
