"""The teacher's vocabulary: every sentence it can write, and their tokens.

A critic trained on the teacher's critiques only ever saw these words as answers (about 600 of
SmolLM2's 49,152 tokens). Decoding over them alone (`AestheticCaptioner.restrict_output`) shrinks
the product that scores the next token, a fifth of the LM's weights read at every step, to a few
hundred rows. What the critic could write beyond them was never taught: its rare garbles
("Colour casts target a part of the picture"), which the claim checker cannot back anyway.
The same sentences, for a prompt's findings, guess the critic's next tokens (`TeacherDrafts`).
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

    def get(self, key, default=None):  # dict.get never asks __missing__; fills that use get must see x
        return self.x


@lru_cache(maxsize=1)
def teacher_sentences() -> tuple[str, ...]:
    """Each rule's every phrasing, with and without each advice, for each way its slots can read
    ("1 stop" / "2.5 stops", "rising" / "falling to the right", "under 1%" / "37%"); numbers
    themselves are in `slot_values`. The subject is "the subject": the critic writes that, and
    the photo's label replaces it after decoding (`asemllm.critic.api.name_subject`)."""
    return tuple(dict.fromkeys(s for bare, advised in _rule_sentences().values() for s in bare + advised))


def is_teacher_sentence(sentence: str) -> bool:
    """Whether `sentence` is one the teacher can write, whatever its numbers: one rule's phrasing
    (with or without its advice) about "the subject", word for word. A sentence that only contains
    a claim's key phrase ("The shadows are well exposed." holds "well exposed") is not."""
    return _shape(sentence) in _sentence_shapes()


def _shape(sentence: str) -> str:
    return re.sub(r"\d+", "0", " ".join(sentence.split()).lower())


@lru_cache(maxsize=1)
def _sentence_shapes() -> frozenset[str]:
    return frozenset(_shape(s) for s in teacher_sentences())


@lru_cache(maxsize=1)
def _rule_sentences() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """rule id -> (its sentences without advice, its sentences with each advice; none if it has
    no advice), over its slots' shapes."""
    from .teacher import render_slots

    out = {}
    for rule, fillings in _fillings():
        bare, advised = [], []
        for slots in _shapes(fillings):
            slots = {"subject": "the subject", **slots}
            for p in range(len(rule.phrasings)):
                bare.append(render_slots(rule, slots, p, None))
                advised += [render_slots(rule, slots, p, a) for a in range(len(rule.advice))]
        out[rule.id] = (tuple(dict.fromkeys(bare)), tuple(dict.fromkeys(advised)))
    return out


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


class TeacherDrafts:
    """Guesses of a critique's next tokens (`asemllm.model.drafting`) from the sentences the
    teacher would write for its prompt: the prompt's findings name the rules, in the order the
    critique states them (`findings.prompt_for`), so only their phrasings are looked up, each
    followed by the next rule's commonest start, the last by the end of turn. Another prompt gets
    guesses from every sentence."""

    def __init__(self, tokenizer, prompts: dict[str, str]):
        self.tokenizer = tokenizer
        self.aspect_of = {text: aspect for aspect, text in prompts.items()}
        self.end = tokenizer.convert_tokens_to_ids("<|im_end|>")  # ChatML end of turn
        self._drafters: dict[tuple | None, object] = {}  # findings key -> Drafter (None: another prompt)

    def for_prompt(self, prompt: str):
        text, _, found = prompt.rpartition("\nFindings: ")
        aspect = self.aspect_of.get(text)
        # not a findings prompt of this model: any of the teacher's sentences (built on first use)
        key = (aspect == "general_impression", tuple(found.rstrip(".").split(", "))) if aspect else None
        if key not in self._drafters:
            if len(self._drafters) > 4096:  # a server sees ever new findings: keep the memory bounded
                self._drafters.clear()
            self._drafters[key] = self._build(*key) if key else self._any()
        return self._drafters[key]

    def _any(self):
        from ..model.drafting import Drafter

        return Drafter(self._tokens(teacher_sentences(), True) + self._tokens(teacher_sentences(), False))

    def _build(self, summary: bool, rules: tuple[str, ...]):
        """The drafter for one aspect's findings (its rules' sentences only: quick to build); for "none"
        it guesses nothing (the teacher writes nothing: the end of turn comes first)."""
        from ..model.drafting import Drafter

        rules = [r for r in rules if r in _rule_sentences()]
        said = [self._said(rule, summary, i == 0) for i, rule in enumerate(rules)]
        nexts = [_commonest_start(s) for s in said[1:]] + [[self.end]]
        return Drafter([seq + after for sents, after in zip(said, nexts) for seq in sents])

    def _said(self, rule: str, summary: bool, first: bool) -> list[list[int]]:
        """A rule's sentences as the critique would state them (the general impression gives no
        advice), as its first sentence or after another."""
        bare, advised = _rule_sentences()[rule]
        return self._tokens(bare if summary or not advised else advised, first)

    def _tokens(self, texts, first: bool) -> list[list[int]]:
        texts = list(texts) if first else [" " + t for t in texts]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]


def _commonest_start(sentences: list[list[int]], n: int = 3) -> list[int]:
    """The first n tokens most of the sentences begin with."""
    from collections import Counter

    return list(Counter(tuple(s[:n]) for s in sentences).most_common(1)[0][0])
