"""Is what the critic says true of the photo? Two measurements on photos it never trained on.

1. Claim agreement: every claim the critique makes (found by the teacher's recognisers,
   `teacher.check_claims`) is checked against the attributes measured on the same photo.
2. Controlled edits: darken, brighten, blur, tilt, move the subject. An edit counts when the
   measurement shows its effect (the teacher would say it); the critic reports it when its critique
   of the aspect the edit touches makes a true claim of that effect.

For a model with an auxiliary head (config.aux_targets = the teacher's rules) both are also
reported for the head alone ("head"): what the image tokens know, next to what the text says.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from .teacher import check_claims, recognise, restate_numbers, sentences

PLACEMENT = ("placement.thirds", "placement.centred", "placement.off_centre", "placement.loose")


@dataclass(frozen=True)
class Edit:
    name: str
    aspects: tuple[str, ...]  # where the critic should report it
    effects: tuple[str, ...]  # rule ids that report it


EDITS = (
    Edit("darken 2 stops", ("use_of_camera",), ("exposure.dark",)),
    Edit("brighten 2 stops", ("use_of_camera",), ("exposure.bright", "highlights.clipped")),
    Edit("blur 3 px", ("focus", "use_of_camera"), ("focus.subject_soft", "sharpness.soft")),
    Edit("tilt 5 degrees", ("composition",), ("horizon.tilted",)),
    Edit("move the subject", ("composition",), PLACEMENT),
)


def apply_edit(name: str, image, sal=None):
    """The edited photo (PIL). `sal` (the photo's saliency map) places the 'move' crop."""
    import numpy as np
    from PIL import Image

    from .edits import blur, crop, expose, rotate

    if name.startswith(("darken", "brighten")):
        rgb = expose(np.asarray(image, dtype=np.float32) / 255.0, -2.0 if name.startswith("darken") else 2.0)
        return Image.fromarray((rgb * 255 + 0.5).astype(np.uint8))
    if name.startswith("blur"):
        return blur(image, 3.0)
    if name.startswith("tilt"):
        return rotate(image, 5.0)
    if name == "move the subject":
        # keep 60% of each side, on the far side from the saliency peak: the subject moves towards an edge
        y, x = np.unravel_index(int(np.argmax(sal)), sal.shape)
        return crop(image, 0.6, 0.0 if x > sal.shape[1] / 2 else 1.0, 0.0 if y > sal.shape[0] / 2 else 1.0)
    raise ValueError(f"unknown edit {name!r}; known: {[e.name for e in EDITS]}")


def _encoded(model, images):
    """The model's encoding of `images` (None for the teacher), made once per photo: it gives the
    head's findings, the prompts' image tokens and the head's own measurement alike."""
    import torch

    if model is None:
        return None
    with torch.no_grad():
        return model.encode(images)


def _generate(model, images, encoded, jobs, max_new_tokens) -> list[str]:
    """[(index into `images`, aspect)] -> the critic's texts in that order, in one batched
    generation (the teacher's when `model` is None). When every job is one photo's, its aspects
    share the photo's prefix, as `asemllm critique` of one photo does (`Critic._texts`)."""
    from .attributes import measure
    from .findings import holding, prompt_for
    from .teacher import critique

    if not jobs:
        return []
    if model is None:
        return [critique(measure(images[i]), a, random.Random(0)).text for i, a in jobs]
    said = holding(model, images, encoded)
    prompts = [prompt_for(model, a, said[i]) for i, a in jobs]
    rows = [i for i, _ in jobs]
    if len(images) == 1:
        texts = model.generate(images, prompts, max_new_tokens=max_new_tokens, repeat=len(jobs), encoded=encoded)
    else:  # each job's row of the encoding (an edited photo may serve two aspects)
        encoded = type(encoded)(*(None if t is None else t[rows] for t in encoded))
        texts = model.generate([images[i] for i in rows], prompts, max_new_tokens=max_new_tokens, encoded=encoded)
    return [t.strip() for t in texts]


def _has_head(model) -> bool:
    return model is not None and model.head is not None


def _head(model, encoded):
    """The model's claim-head probabilities (N, rules of ALL_RULES), or None without a head."""
    from .claim_head import probabilities

    if not _has_head(model):
        return None
    return probabilities(model, None, encoded).cpu().numpy()


def claim_agreement(model, photos, max_new_tokens: int = 96, log=None) -> dict:
    """Share of the claims in the critiques of `photos` (all seven aspects) that the measurements back."""
    from .attributes import measure
    from .teacher import ASPECTS

    per_rule, per_aspect, examples, head = Counter(), Counter(), [], Counter()
    empty = unchecked = total = numbers = as_measured = 0
    for i, image in enumerate(photos):
        attrs = measure(image)
        encoded = _encoded(model, [image])
        _count_head(head, _head(model, encoded), attrs)
        texts = dict(zip(ASPECTS, _generate(model, [image], encoded, [(0, a) for a in ASPECTS], max_new_tokens)))
        for aspect, text in texts.items():
            checks = check_claims(text, attrs)
            empty += not checks
            said = sentences(text)
            total += len(said)
            unchecked += sum(not recognise(x) for x in said)
            _, found, same = restate_numbers(text, attrs)
            numbers, as_measured = numbers + found, as_measured + same
            for rule, ok in checks:
                per_rule[rule, ok] += 1
                per_aspect[aspect, ok] += 1
        if i < 3:
            examples.append(texts)
        if log:
            log(i + 1, len(photos))
    return {"claims": sum(per_rule.values()), "agree": _share(per_rule),
            "aspects_without_claims": empty,
            # sentences that make no claim the checker knows: neither counted for nor against
            "sentences": total, "sentences_without_known_claims": unchecked,
            # the numbers the text gives for its claims (stops, %, degrees), as written: how many
            # equal the measured ones (the critic restates them all as measured before showing them)
            "numbers": numbers, "numbers_as_measured": round(as_measured / numbers, 4) if numbers else None,
            "per_aspect": {a: _share(per_aspect, a) for a in ASPECTS},
            "per_rule": {r: _share(per_rule, r) for r in sorted({r for r, _ in per_rule})},
            "examples": examples} | ({"head": _head_summary(head)} if head else {})


def _count_head(counts: Counter, probs, attrs) -> None:
    """Tally the head's yes/no per rule against whether the rule holds on the measurements (the rules
    the head knows: a head trained before a family of rules was added has fewer outputs)."""
    from .teacher import targets

    if probs is None:
        return
    for p, t in zip(probs[0], targets(attrs)[:len(probs[0])], strict=True):
        counts[p > 0.5, t == 1.0] += 1


def _head_summary(c: Counter) -> dict:
    """precision: of the claims the head says hold, the share that do (the head's "claims backed");
    recall: of the claims that hold, the share it finds."""
    said, held = c[True, True] + c[True, False], c[True, True] + c[False, True]
    return {"claims_said": said, "precision": round(c[True, True] / said, 4) if said else None,
            "recall": round(c[True, True] / held, 4) if held else None,
            "accuracy": round((c[True, True] + c[False, False]) / sum(c.values()), 4)}


def _share(counts: Counter, key=None) -> dict | float | None:
    if key is None:
        yes = sum(n for (k, ok), n in counts.items() if ok)
        total = sum(counts.values())
        return round(yes / total, 4) if total else None
    yes, no = counts[key, True], counts[key, False]
    return {"n": yes + no, "agree": round(yes / (yes + no), 4) if yes + no else None}


def edit_detection(model, photos, max_new_tokens: int = 96, log=None) -> dict:
    """Per edit: how many edits the measurement shows (`shown`) and the critic reports (`reported`)."""
    from ..saliency.predict import load_iasm, predict_maps
    from .attributes import measure
    from .teacher import ALL_RULES, RULES_BY_ID, values

    iasm = load_iasm()
    rows = {e.name: Counter() for e in EDITS}
    index = {r.id: i for i, r in enumerate(ALL_RULES)}
    for i, image in enumerate(photos):
        (sal,) = predict_maps(iasm, [image], [(image.height, image.width)])
        before = values(measure(image, saliency=sal))
        todo = []  # (edit, edited photo, its measured values)
        for e in EDITS:
            edited = apply_edit(e.name, image, sal)
            after = values(measure(edited))
            shown = [r for r in e.effects if RULES_BY_ID[r].holds(after)]
            if e.name == "move the subject":  # only a placement that changed is an effect
                shown = [r for r in shown if not RULES_BY_ID[r].holds(before)]
            rows[e.name]["shown" if shown else "not shown by the measurement"] += 1
            if shown:
                todo.append((e, edited, after))
        # one batched generation per photo: every shown edit's aspects at once, each edited photo encoded once
        edited = [im for _, im, _ in todo]
        encoded = _encoded(model, edited) if todo else None
        jobs = [(k, a) for k, (e, _, _) in enumerate(todo) for a in e.aspects]
        texts = iter(_generate(model, edited, encoded, jobs, max_new_tokens))
        probs = _head(model, encoded) if todo else None
        for k, (e, _, after) in enumerate(todo):
            said = {r for a in e.aspects for r, ok in check_claims(next(texts), after) if ok}
            rows[e.name]["reported"] += bool(said & set(e.effects))
            if probs is not None:  # the head "reports" it when it gives a true effect p > 0.5
                rows[e.name]["head reported"] += any(
                    probs[k, index[r]] > 0.5 and RULES_BY_ID[r].holds(after) for r in e.effects)
        if log:
            log(i + 1, len(photos))
    shown = sum(c["shown"] for c in rows.values())
    reported = sum(c["reported"] for c in rows.values())
    head = {"head_reported": sum(c["head reported"] for c in rows.values())} if _has_head(model) else {}
    if head and shown:
        head["head_share"] = round(head["head_reported"] / shown, 4)
    return {"shown": shown, "reported": reported, "share": round(reported / shown, 4) if shown else None, **head,
            "per_edit": {k: dict(c) | {"share": round(c["reported"] / c["shown"], 4) if c["shown"] else None}
                         for k, c in rows.items()}}


def measure_critic(model, root, limit: int | None = None, max_new_tokens: int = 96, log=None) -> dict:
    """Both measurements on NUS 401-500 (`limit`: the first N of them); `log(text)` hears of each photo."""
    from .dataset import evaluation_photos, open_photo

    photos = [open_photo(p) for p in evaluation_photos(root)[:limit]]
    name = "teacher" if model is None else model.config.saliency

    def progress(part):  # log(text) per photo, or nothing
        return (lambda i, n: log(f"{part}: photo {i}/{n}")) if log else None

    return {"model": name, "photos": len(photos),
            "claim_agreement": claim_agreement(model, photos, max_new_tokens, progress("claims")),
            "controlled_edits": edit_detection(model, photos, max_new_tokens, progress("edits"))}
