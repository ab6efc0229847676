"""Is what the critic says true of the photo? Two measurements on photos it never trained on.

1. Claim agreement: every claim the critique makes (found by the teacher's recognisers,
   `teacher.check_claims`) is checked against the attributes measured on the same photo.
2. Controlled edits: darken, brighten, blur, tilt, move the subject, saturate, desaturate, warm
   and cool tints, flatten and boost contrast, add noise on every photo, and in turn the
   measurement families' own (relight, backlight, crops, keystone, streaks, vignettes, hue turns,
   EXIF settings...: `measures.*.CHECKS`). An edit counts when the teacher's claims on the edited
   photo state its effect; the critic reports it when its critique of the aspects the effect is
   said in makes a true claim of that effect.

For a model with an auxiliary head (config.aux_targets = the teacher's rules) both are also
reported for the head alone ("head"): what the image tokens know, next to what the text says.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from .teacher import check_claims, recognise, restate_numbers, sentences

PLACEMENT = ("placement.thirds", "placement.centred", "placement.off_centre", "placement.loose")


@dataclass(frozen=True)
class Edit:
    name: str
    effects: tuple[str, ...]  # rule ids that report it
    apply: Callable | None = None    # (PIL photo, saliency, random.Random) -> PIL photo; None: `apply_edit`
    applies: Callable | None = None  # (values before) -> bool: photos it makes sense on (None: all)
    new_only: bool = False  # shown only where the edit made an effect hold that did not before

    @property
    def aspects(self) -> tuple[str, ...]:
        """Where the critic should report it: the aspects the teacher says its effects in."""
        from .teacher import RULES_BY_ID

        return tuple(dict.fromkeys(a for r in self.effects for a in RULES_BY_ID[r].aspects))


def _pil(fn):
    """A float-RGB edit (edits.py) as an edit of PIL photos."""
    def edit(image, sal, rng):
        import numpy as np
        from PIL import Image

        rgb = fn(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0, rng)
        return Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    return edit


def _enhance(kind: str, factor: float):
    def edit(image, sal, rng):
        from PIL import ImageEnhance

        return getattr(ImageEnhance, kind)(image.convert("RGB")).enhance(factor)
    return edit


def more_core_edits() -> tuple[Edit, ...]:
    """The core claims' other edit families (beyond `EDITS`): colour amount, white balance,
    contrast, noise, crushed shadows, a shallow depth of field."""
    from .edits import add_noise, tint

    return (
        Edit("saturate x2", ("colour.vivid",), _enhance("Color", 2.0), new_only=True),
        Edit("desaturate to 30%", ("colour.muted",), _enhance("Color", 0.3), new_only=True),
        Edit("warm tint", ("colour.warm", "colour.cast"),
             _pil(lambda rgb, rng: tint(rgb, 0.4)), new_only=True),
        Edit("cool tint", ("colour.cool", "colour.cast"),
             _pil(lambda rgb, rng: tint(rgb, -0.4)), new_only=True),
        Edit("flatten contrast", ("contrast.low",), _enhance("Contrast", 0.5), new_only=True),
        Edit("boost contrast", ("contrast.high",), _enhance("Contrast", 1.8), new_only=True),
        Edit("add noise", ("noise.high",), _pil(lambda rgb, rng: add_noise(rgb, 12.0, rng)),
             new_only=True),
        Edit("crush the shadows", ("shadows.crushed",),
             _pil(lambda rgb, rng: (rgb - 0.15) / 0.85), new_only=True),
        Edit("blur the background", ("dof.shallow", "dof.moderate"), _blur_background,
             new_only=True),
    )


def _blur_background(image, sal, rng):
    """Everything but the subject region (half the saliency, feathered) blurred by 2% of the longer
    side: a wider aperture's shallow depth of field."""
    import numpy as np
    from PIL import Image, ImageFilter
    from scipy.ndimage import gaussian_filter

    from .measures.scene import saliency_at, subject_mask

    image = image.convert("RGB")
    w, h = image.size
    keep = gaussian_filter(subject_mask(saliency_at(sal, None, (h, w))).astype(np.float32), 0.01 * max(w, h))
    soft = np.asarray(image.filter(ImageFilter.GaussianBlur(0.02 * max(w, h))), dtype=np.float32)
    sharp = np.asarray(image, dtype=np.float32)
    out = keep[..., None] * sharp + (1 - keep[..., None]) * soft
    return Image.fromarray((out + 0.5).clip(0, 255).astype(np.uint8))


def family_edits() -> tuple[Edit, ...]:
    """Every measurement family's controlled edits (`measures.*.CHECKS`), reported in the aspects
    their claims are said in: "light: relight from the left" -> light.from_left in color_lighting."""
    from .attributes import FAMILIES

    out = []
    for module in FAMILIES:
        family = module.__name__.rsplit(".", 1)[1]
        for c in getattr(module, "CHECKS", ()):
            out.append(Edit(f"{family}: {c.name}", tuple(c.claims), c.apply, c.applies, new_only=True))
    return tuple(out)


EDITS = (
    Edit("darken 2 stops", ("exposure.dark",)),
    Edit("brighten 2 stops", ("exposure.bright", "highlights.clipped")),
    Edit("blur 3 px", ("focus.subject_soft", "sharpness.soft")),
    Edit("tilt 5 degrees", ("horizon.tilted",)),
    Edit("move the subject", PLACEMENT, new_only=True),
)
# Each photo gets every core edit and this many of the families' (taken in turn, so that each
# family's edits meet about as many photos): the critic writes for ~100 photos x that many more edits.
FAMILY_EDITS_PER_PHOTO = 6


def edits_for(i: int, before: dict, per_photo: int = FAMILY_EDITS_PER_PHOTO) -> list[Edit]:
    """The edits photo `i` gets: every core edit, and `per_photo` family edits in turn (those that
    do not apply to it are skipped, not replaced: each family keeps its turn)."""
    return [e for e in (*EDITS, *more_core_edits(), *family_turn(i, per_photo)) if e.applies is None or e.applies(before)]


def family_turn(i: int, per_photo: int) -> list[Edit]:
    """The `per_photo` family edits whose turn photo `i` is: photos 0, 1, ... take them in order."""
    fam = family_edits()
    return [fam[(i * per_photo + k) % len(fam)] for k in range(min(per_photo, len(fam)))]


def apply_edit(name: str, image, sal=None):
    """The edited photo (PIL) for one of `EDITS`. `sal` (the photo's saliency map) places the 'move' crop."""
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


def _generate(model, images, measured, encoded, jobs, max_new_tokens) -> list[str]:
    """[(index into `images`, aspect)] -> the critic's texts in that order, in one batched
    generation (the teacher's when `model` is None). `measured`: each image's measured attributes
    (or their values), which the caller has already. When every job is one photo's, its aspects
    share the photo's prefix, as `asemllm critique` of one photo does (`Critic._texts`)."""
    from .findings import holding, prompt_for, settings_of
    from .teacher import critique

    if not jobs:
        return []
    if model is None:
        return [critique(measured[i], a, random.Random(0)).text for i, a in jobs]
    said = holding(model, images, encoded, measured)
    prompts = [prompt_for(model, a, said[i], settings_of(model, measured[i])) for i, a in jobs]
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
    repeated = Counter()  # claims stated in more than two aspects of one critique, and their critiques
    for i, image in enumerate(photos):
        attrs = measure(image)
        encoded = _encoded(model, [image])
        _count_head(head, _head(model, encoded), attrs)
        texts = dict(zip(ASPECTS, _generate(model, [image], [attrs], encoded, [(0, a) for a in ASPECTS], max_new_tokens)))
        stated: dict[str, set] = {}
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
                stated.setdefault(rule, set()).add(aspect)
        over = sum(len(where) > 2 for where in stated.values())
        repeated.update(claims=over, critiques=int(over > 0))
        if i < 3:
            examples.append(texts)
        if log:
            log(i + 1, len(photos))
    return {"claims": sum(per_rule.values()), "agree": _share(per_rule),
            "aspects_without_claims": empty,
            # sentences that make no claim the checker knows: neither counted for nor against
            "sentences": total, "sentences_without_known_claims": unchecked,
            # a claim belongs in its aspect and at most one more: those said in three or more
            "claims_in_over_two_aspects": dict(repeated),
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


def edit_detection(model, photos, max_new_tokens: int = 96, log=None,
                   per_photo: int = FAMILY_EDITS_PER_PHOTO) -> dict:
    """Per edit: how many edits the measurement shows (`shown`) and the critic reports (`reported`).
    An edit is shown where the teacher's own claims on the edited photo state one of its effects
    (for `new_only` edits: an effect that did not hold on the photo before)."""
    from ..saliency.predict import load_iasm, predict_maps
    from .attributes import measure
    from .teacher import ALL_RULES, RULES_BY_ID, values

    iasm = load_iasm()
    rows: dict[str, Counter] = {}
    index = {r.id: i for i, r in enumerate(ALL_RULES)}
    for i, image in enumerate(photos):
        (sal,) = predict_maps(iasm, [image], [(image.height, image.width)])
        before = values(measure(image, saliency=sal))
        todo = []  # (edit, edited photo, its measured values)
        for e in edits_for(i, before, per_photo):
            rng = random.Random(f"{i}-{e.name}")
            edited = e.apply(image, sal, rng) if e.apply else apply_edit(e.name, image, sal)
            after = values(measure(edited))
            shown = [r for r in e.effects if RULES_BY_ID[r].holds(after)
                     and not (e.new_only and RULES_BY_ID[r].holds(before))]
            rows.setdefault(e.name, Counter())["shown" if shown else "not shown by the measurement"] += 1
            if shown:
                todo.append((e, edited, after))
        # one batched generation per photo: every shown edit's aspects at once, each edited photo encoded once
        edited = [im for _, im, _ in todo]
        encoded = _encoded(model, edited) if todo else None
        jobs = [(k, a) for k, (e, _, _) in enumerate(todo) for a in e.aspects]
        texts = iter(_generate(model, edited, [after for _, _, after in todo], encoded, jobs, max_new_tokens))
        probs = _head(model, encoded) if todo else None
        for k, (e, _, after) in enumerate(todo):
            said = {r for a in e.aspects for r, ok in check_claims(next(texts), after) if ok}
            rows[e.name]["reported"] += bool(said & set(e.effects))
            if probs is not None:  # the head "reports" it when it gives a true effect p > 0.5 (of the rules it knows)
                rows[e.name]["head reported"] += any(
                    index[r] < probs.shape[1] and probs[k, index[r]] > 0.5 and RULES_BY_ID[r].holds(after)
                    for r in e.effects)
        if log:
            log(i + 1, len(photos))
    shown = sum(c["shown"] for c in rows.values())
    reported = sum(c["reported"] for c in rows.values())
    head = {"head_reported": sum(c["head reported"] for c in rows.values())} if _has_head(model) else {}
    if head and shown:
        head["head_share"] = round(head["head_reported"] / shown, 4)
    per_edit = {k: dict(c) | {"share": round(c["reported"] / c["shown"], 4) if c["shown"] else None}
                for k, c in rows.items()}
    counted = {k: v["share"] for k, v in per_edit.items() if v.get("shown", 0) >= MIN_SHOWN}
    weakest = min(counted, key=counted.get) if counted else None
    return {"shown": shown, "reported": reported, "share": round(reported / shown, 4) if shown else None, **head,
            # the edit family reported least often, of those shown on at least MIN_SHOWN photos
            "weakest": {"edit": weakest, "share": counted[weakest]} if weakest else None,
            "per_edit": per_edit}


# an edit family's share counts towards `weakest` once it was shown on this many photos
MIN_SHOWN = 5


def measure_critic(model, root, limit: int | None = None, max_new_tokens: int = 96, log=None,
                   per_photo: int = FAMILY_EDITS_PER_PHOTO) -> dict:
    """Both measurements on NUS 401-500 (`limit`: the first N of them; `per_photo` family edits a
    photo); `log(text)` hears of each photo."""
    from .dataset import evaluation_photos, open_photo

    photos = [open_photo(p) for p in evaluation_photos(root)[:limit]]
    name = "teacher" if model is None else model.config.saliency

    def progress(part):  # log(text) per photo, or nothing
        return (lambda i, n: log(f"{part}: photo {i}/{n}")) if log else None

    return {"model": name, "photos": len(photos),
            "claim_agreement": claim_agreement(model, photos, max_new_tokens, progress("claims")),
            "controlled_edits": edit_detection(model, photos, max_new_tokens, progress("edits"), per_photo)}
