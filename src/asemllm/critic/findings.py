"""Findings prompts: the critic's own head decides which claims hold; the LM writes them up.

A model trained with `findings: true` reads, after the aspect's prompt, the ids of the claims its
critique should state ("Findings: exposure.bright, highlights.clipped."): in training the claims
the teacher's text states, at inference the ones its auxiliary head (over the image tokens) gives
a probability above `config.findings_threshold` -- as Tag2Text guides captions with recognised
tags. The LM then only has to phrase them; whether they are true rests on the image tokens.
"""

from __future__ import annotations

from .teacher import ALL_RULES, EXCLUSIVE, RULES_BY_ID, VERDICTS, chosen, verdict

_GROUPS: dict[str, list[tuple[str, ...]]] = {}  # rule id -> the exclusive groups it is in
_VERDICTS = {r.id for r in VERDICTS}  # decided from the faults, not by the head
for _g in EXCLUSIVE:
    for _rid in _g:
        _GROUPS.setdefault(_rid, []).append(_g)


def decide(probs, threshold: float = 0.5) -> set[str]:
    """Rule ids (ALL_RULES order of `probs`) the head says hold: p > threshold, most confident
    first, skipping a rule whose exclusive group (e.g. dark/bright/well exposed) already has one.

    The overall verdict is not the head's own guess but the teacher's verdict for the faults among
    those rules, so "held back by a flaw or two" goes with the one or two faults the critique
    names; counted so, it is right more often than the head's own guess (docs/DESIGN_NOTES.md,
    "The overall verdict").

    A head trained before a family of rules was added has fewer outputs: the rules it knows are the
    first ones of ALL_RULES (families are appended), and it says nothing of the rest."""
    if not 0 < len(probs) <= len(ALL_RULES):
        raise ValueError(f"{len(probs)} probabilities, the teacher has {len(ALL_RULES)} rules")
    said: set[str] = set()
    for p, rule in sorted(zip(probs, ALL_RULES), key=lambda x: -float(x[0])):
        if p <= threshold:
            break
        if rule.id not in _VERDICTS and not any(other in said for g in _GROUPS.get(rule.id, ()) for other in g):
            said.add(rule.id)
    return said | {verdict(sum(RULES_BY_ID[r].problem for r in said))}


def findings(aspect: str, said: set[str]) -> list[str]:
    """The claim ids an aspect's critique states when the rules in `said` hold."""
    return [r.id for r in chosen(aspect, said)]


def holding(model, images, encoded=None, attributes=None) -> list[set[str] | None]:
    """Per image, the rules the model's head says hold (None: the model takes no findings); from
    `encoded`, the images' model.encode(), when given: pass the same to generate and each image is
    encoded once. For a model trained with `config.settings`, the camera-settings claims come from
    the photos' measured `attributes` instead (EXIF with the noise, depth of field or sharpness they
    are tied to): the head sees pixels, not EXIF. Likewise the targets in `config.aux_measured`
    (the horizon's tilt) come from the measurements wherever `attributes` are given."""
    if not model.config.findings:
        return [None] * len(images)
    from .claim_head import probabilities

    probs = probabilities(model, images, encoded).cpu().numpy()
    said = [decide(p, model.config.findings_threshold) for p in probs]
    measured = measured_rules(model.config)
    if measured and attributes is not None:
        said = [_with_measured(s, a, measured) if a is not None else s for s, a in zip(said, attributes, strict=True)]
    return said


_SETTINGS = {r.id for r in ALL_RULES if r.id.startswith("settings.")}


def measured_rules(config) -> set[str]:
    """The rule ids a model's findings take from the measurements instead of its head."""
    return (_SETTINGS if config.settings else set()) | {ALL_RULES[i].id for i in config.aux_measured}


def _with_measured(said: set[str], attributes, measured: set[str]) -> set[str]:
    """`said` with the `measured` rules as the teacher decides them on `attributes`, and the verdict
    counted again from the faults (it goes with the faults the critique names, as in `decide`)."""
    from .teacher import values

    v = values(attributes)
    kept = (said - measured - _VERDICTS) | {rid for rid in measured if RULES_BY_ID[rid].holds(v)}
    return kept | {verdict(sum(RULES_BY_ID[r].problem for r in kept))}


def settings_of(model, attributes) -> str | None:
    """The photo's camera settings as its prompt carries them (a model trained with them), else None."""
    if not model.config.settings or attributes is None:
        return None
    from .measures.settings import prompt_text
    from .teacher import values

    return prompt_text(values(attributes))


def prompt_for(model, aspect: str, said: set[str] | None, settings: str | None = None) -> str:
    return model.config.prompt(aspect, None if said is None else findings(aspect, said), settings)


def prompts(model, images, aspects, encoded=None, attributes=None) -> list[str]:
    """One prompt per (image, aspect), image-major; with the head's findings when the model was
    trained on them, and the photo's camera settings when it was trained with them (`attributes`:
    the photos' measurements)."""
    attributes = attributes if attributes is not None else [None] * len(images)
    return [prompt_for(model, a, said, settings_of(model, at))
            for said, at in zip(holding(model, images, encoded, attributes), attributes, strict=True)
            for a in aspects]
