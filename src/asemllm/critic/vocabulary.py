"""The teacher's vocabulary: every sentence it can write, and their tokens.

A critic trained on the teacher's critiques only ever saw these words as answers (about 600 of
SmolLM2's 49,152 tokens). Decoding over them alone (`AestheticCaptioner.restrict_output`) shrinks
the product that scores the next token, a fifth of the LM's weights read at every step, to a few
hundred rows. What the critic could write beyond them was never taught: its rare garbles
("Colour casts target a part of the picture"), which the claim checker cannot back anyway.
"""

from __future__ import annotations

import re
from functools import lru_cache


class _Everywhere(dict):
    """{any attribute: x}: what a rule's fill reads, whatever its name."""

    def __init__(self, x: float):
        super().__init__()
        self.x = x

    def __missing__(self, key):
        return self.x


@lru_cache(maxsize=1)
def teacher_sentences() -> tuple[str, ...]:
    """Each rule's every phrasing, with and without each advice, for each way its slots can read
    ("1 stop" / "2.5 stops", "rising" / "falling to the right", "under 1%" / "37%"); numbers
    themselves are in `slot_values`. The subject is "the subject": the critic writes that, and
    the photo's label replaces it after decoding (`asemllm.critic.api.name_subject`)."""
    from .teacher import render_slots

    out = []
    for rule, fillings in _fillings():
        for slots in _shapes(fillings):
            slots = {"subject": "the subject", **slots}
            for p in range(len(rule.phrasings)):
                out += [render_slots(rule, slots, p, a) for a in (None, *range(len(rule.advice)))]
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=1)
def slot_values() -> tuple[str, ...]:
    """Every distinct way a slot reads over the grid ("2.5 stops", "38%", "counter-clockwise")."""
    return tuple(sorted({v for _, fillings in _fillings() for slots in fillings for v in slots.values()}))


@lru_cache(maxsize=1)
def _fillings() -> list[tuple]:
    """[(rule, its slot fillings for each attribute value of the grid)]. The grid: every whole
    and half unit to +-100, and fractions of 1 (subject_size is a fraction, said in %), so that
    every word a slot can read shows up, and its numbers' digits."""
    from .teacher import ALL_RULES

    grid = sorted({k / 4 for k in range(-400, 401)} | {k / 100 for k in range(101)})
    return [(rule, [rule.fill(_Everywhere(x)) for x in grid]) for rule in ALL_RULES]


def _shapes(fillings: list[dict[str, str]]) -> list[dict[str, str]]:
    """One filling per shape: the fillings told apart with digits ignored ("2.5 stops" = "10 stops")."""
    shapes = {}
    for slots in fillings:
        shapes.setdefault(tuple((k, re.sub(r"\d+", "0", v)) for k, v in sorted(slots.items())), slots)
    return list(shapes.values())


def output_ids(tokenizer) -> list[int]:
    """The token ids of everything the teacher writes, as a critique's first sentence and after a
    space (as its later ones), sorted (`restrict_output` adds the end of turn)."""
    texts = [*teacher_sentences(), *slot_values()]
    ids = set()
    for batch in (texts, [" " + t for t in texts]):
        for row in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            ids.update(row)
    return sorted(ids)
