"""Training data for the default critic: real photos, edited, measured, critiqued by the teacher.

Every training photo is real (../shared/data: NUS scenes 001-400, SALICON, mate, lomiri, misc, and
scikit-image's own photos). Each is used as taken and in `variants - 1` edited versions: exposure
shifts, blur, crops that move the subject, rotations, colour casts, sensor-like noise. The labels
are recomputed on every edited photo (after its JPEG round trip, so they describe exactly the
pixels the model is shown), so an edit teaches what it changes. NUS 401-500 are never used here:
they are the photos the critic is measured on (`asemllm.critic.measure_critic`).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from .edits import add_noise, blur, crop, expose, rotate, tint, to_srgb  # noqa: F401 (the edits are used here and by tests)

WORK_SIDE = 384  # longer side of the stored photos: the model sees 224 px, measurement works at <= 512
SKIMAGE_TRAIN = ("camera", "chelsea", "coffee", "rocket", "coins")  # astronaut is kept for the demo
NUS_TRAIN, NUS_EVAL = range(1, 401), range(401, 501)


@dataclass(frozen=True)
class Photo:
    id: str
    source: str  # a file path, or "skimage:<name>"


def _nus(root: Path, numbers) -> list[Photo]:
    folder = root / "saliency" / "nus_scene" / "data" / "stimuli"
    return [Photo(f"nus-{n:03d}", str(folder / f"{n:03d}.jpg")) for n in numbers]


def training_photos(root: str | Path) -> list[Photo]:
    """Every real photo the critic may learn from (none of the evaluation photos)."""
    root = Path(root)
    photos = _nus(root, NUS_TRAIN)
    photos += [Photo(f"salicon-{p.stem}", str(p))
               for p in sorted((root / "saliency" / "salicon_examples" / "images").rglob("*.jpg"))]
    for sub in ("mate", "lomiri_20.04", "misc"):
        photos += [Photo(f"{sub}-{p.stem}", str(p)) for p in sorted((root / "photos" / sub).iterdir())
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    photos += [Photo(f"skimage-{n}", f"skimage:{n}") for n in SKIMAGE_TRAIN]
    missing = [p.source for p in photos if not p.source.startswith("skimage:") and not Path(p.source).is_file()]
    if missing:
        raise ValueError(f"{len(missing)} training photos missing under {root}, e.g. {missing[0]}")
    return photos


def evaluation_photos(root: str | Path) -> list[Photo]:
    """NUS 401-500: real photos the critic never trains on."""
    return _nus(Path(root), NUS_EVAL)


def open_photo(photo: Photo, side: int = WORK_SIDE):
    """RGB PIL image, longer side at most `side` (area-averaged)."""
    from PIL import Image

    from ..images import load_image

    if photo.source.startswith("skimage:"):
        from skimage import data

        image = load_image(getattr(data, photo.source.split(":", 1)[1])())
    else:
        image = load_image(photo.source)
    scale = side / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BOX)
    return image


def augment(image, rng: random.Random):
    """A random mix of edits -> (edited PIL image, list of what was done)."""
    import numpy as np
    from PIL import Image

    done = []
    if rng.random() < 0.35:
        frac, fx, fy = rng.uniform(0.55, 0.85), rng.random(), rng.random()
        image = crop(image, frac, fx, fy)
        done.append(f"crop {frac:.2f} at ({fx:.2f}, {fy:.2f})")
    if rng.random() < 0.3:
        deg = rng.choice((-1, 1)) * rng.uniform(2.0, 8.0)
        image = rotate(image, deg)
        done.append(f"rotate {deg:+.1f} deg")
    if rng.random() < 0.25:
        r = rng.uniform(1.0, 4.0)
        image = blur(image, r)
        done.append(f"blur {r:.1f} px")
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        s = rng.choice((-1, 1)) * rng.uniform(0.7, 2.5)
        rgb = expose(rgb, s)
        done.append(f"exposure {s:+.1f} EV")
    if rng.random() < 0.25:
        t = rng.choice((-1, 1)) * rng.uniform(0.1, 0.3)
        rgb = tint(rgb, t)
        done.append(f"tint {t:+.2f}")
    if rng.random() < 0.15:
        sigma = rng.uniform(3.0, 12.0)
        rgb = add_noise(rgb, sigma, rng)
        done.append(f"noise {sigma:.1f}")
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    if rng.random() < 0.25:
        image, what = _enhanced(image, rng)
        done.append(what)
    if rng.random() < FAMILY_EDIT:  # last: a settings edit's EXIF must survive to the saved file
        image, what = _family_edit(image, rng)
        done.append(what)
    return image, done


# The share of edited variants that also get one of the measurement families' controlled edits
# (relight, backlight, crops, keystone, streaks, vignettes, hue turns, EXIF settings...): the
# claims the families make need photos that show them, as the core claims get their edits above.
FAMILY_EDIT = 0.5


def _enhanced(image, rng: random.Random):
    """Colour amount or contrast, up or down (the core colour and contrast claims)."""
    from PIL import ImageEnhance

    kind = rng.choice(("Color", "Contrast"))
    factor = rng.choice((rng.uniform(0.25, 0.7), rng.uniform(1.4, 2.2)))
    return getattr(ImageEnhance, kind)(image).enhance(factor), f"{kind.lower()} x{factor:.2f}"


def _family_edit(image, rng: random.Random):
    """One measurement family's controlled edit, chosen at random (`measures.*.CHECKS`), on the
    photo's predicted saliency (the edits that relight or crop the subject find it there)."""
    from ..saliency.predict import predict_maps
    from .attributes import FAMILIES
    from .measures.scene import shipped_iasm

    checks = [(m.__name__.rsplit(".", 1)[1], c) for m in FAMILIES for c in getattr(m, "CHECKS", ())]
    family, check = rng.choice(checks)
    (sal,) = predict_maps(shipped_iasm(), [image], [(image.height, image.width)])
    return check.apply(image, sal, rng), f"{family}: {check.name}"


# ---- the data set --------------------------------------------------------------------------------

def store(image, path) -> None:
    """Save a training photo as JPEG with its EXIF: a settings edit's EXIF is part of the photo."""
    image.save(path, quality=95, exif=image.getexif())


def _variant(job) -> dict:
    """One stored photo and its teacher record (runs in a worker process)."""
    import torch

    from ..images import load_image
    from .attributes import measure
    from .measures.settings import prompt_text
    from .teacher import critique_all, values

    torch.set_num_threads(1)
    photo, k, seed, out = job
    rng = random.Random(f"{seed}:{photo.id}:{k}")
    image = open_photo(photo)
    image, done = augment(image, rng) if k else (image, [])
    path = Path(out) / "images" / f"{photo.id}-{k}.jpg"
    store(image, path)
    attrs = measure(load_image(str(path)))  # labels from exactly the pixels (and EXIF) the model will see
    critiques = critique_all(attrs, rng)
    return {"id": f"{photo.id}-{k}", "image": f"images/{path.name}", "split": "train",
            "critiques": {a: [c.text] for a, c in critiques.items() if c.text},
            "meta": {"photo": photo.id, "edits": done, "attributes": {n: a.value for n, a in attrs.items()},
                     "targets": _head_targets(attrs),  # the auxiliary head's
                     "settings": prompt_text(values(attrs)),  # from the EXIF, None without (config.settings)
                     # the claims each text states (the prompt of a model trained with findings)
                     "findings": {a: [x.rule for x in c.claims] for a, c in critiques.items() if c.text}}}


def _head_targets(attrs) -> list[float | None]:
    """The auxiliary head's targets: whether each rule of ALL_RULES holds, and unknown (None: no
    loss) for the camera-settings rules, which rest on EXIF the head's pixels cannot show (a critic
    trained with `config.settings` decides them from the EXIF instead)."""
    from .teacher import ALL_RULES, targets

    return [None if r.id.startswith("settings.") else t for r, t in zip(ALL_RULES, targets(attrs), strict=True)]


def build(out: str | Path, root: str | Path, variants: int = 6, seed: int = 0, workers: int = 2,
          log=print) -> dict:
    """Write `out/images/*.jpg` and `out/train.jsonl` (CritiqueRecords); resumes a partial build."""
    from multiprocessing import get_context

    from tqdm import tqdm

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    done_path = out / "train.jsonl"
    done = set()
    if done_path.is_file():
        done = {json.loads(line)["id"] for line in done_path.read_text().splitlines() if line.strip()}
    photos = training_photos(root)
    jobs = [(p, k, seed, str(out)) for p in photos for k in range(variants) if f"{p.id}-{k}" not in done]
    log(f"{len(photos)} photos x {variants} variants: {len(done)} done, {len(jobs)} to go")
    with get_context("spawn").Pool(workers) as pool, open(done_path, "a") as f:
        for rec in tqdm(pool.imap_unordered(_variant, jobs, chunksize=4), total=len(jobs), desc="critic data"):
            f.write(json.dumps(rec) + "\n")
            f.flush()
    return {"photos": len(photos), "records": len(done) + len(jobs), "out": str(done_path)}
