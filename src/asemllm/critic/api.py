"""The critic a person uses: photo in; critique by aspect, measured attributes, saliency out.

`load()` gives the default critic: the ASE-MLLM bundled in the package (`asemllm critic bundle`
puts one there once it has passed its measurement, see docs/MODEL_CARD.md; without it, the
teacher), `load("teacher")` the teacher explicitly. `load(path)` uses a trained ASE-MLLM folder. The JSON
says which (`model`). Whatever writes the text, the measured attributes, the content label and
the saliency map beside it are computed on the photo itself.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

TEACHER = "asemllm-teacher (rules over measurements, no language model)"
BUNDLED = Path(__file__).resolve().parents[1] / "weights" / "critic"
MAX_SEQUENCES = 56  # prompts per generate() call: 8 photos x 7 aspects
# fp32: the default, the same text on every CPU. bf16: the LM's weights, inputs and KV cache in
# bfloat16 (the vision side, IASM and head stay float32, so the head's findings do not change):
# faster on CPUs with native bf16 products (AVX512-BF16, AMX), slower on others (docs/BENCHMARKS.md,
# "The machines"), and its phrasing can differ where two phrasings were near ties.
PRECISIONS = ("fp32", "bf16")


class Critic:
    def __init__(self, model=None, name: str | None = None):
        from ..saliency.predict import load_iasm

        self.model = model  # an AestheticCaptioner, or None for the teacher
        self.iasm = model.iasm if model is not None else load_iasm()
        self._name = name

    @property
    def name(self) -> str:
        if self.model is None:
            return self._name or TEACHER
        import torch

        half = self.model.lm.get_input_embeddings().weight.dtype == torch.bfloat16  # --precision bf16
        return (self._name or f"ASE-MLLM ({self.model.config.lm.backbone})") + (", language model in bf16" * half)

    def critique(self, image, aspects=None, overlay_dir=None, seed: int = 0) -> dict:
        """image: a path, PIL image or uint8 array -> the critique record (see README)."""
        return self.critique_batch([image], aspects, overlay_dir, seed)[0]

    def critique_batch(self, images, aspects=None, overlay_dir=None, seed: int = 0, names=None) -> list[dict]:
        """Several photos at once (one batched generation): a list of critique records. Timings are
        per photo (the batch's time divided by its size). Any unusable photo raises ValueError."""
        from .teacher import ASPECTS

        t = {"start": time.perf_counter()}
        names, photos, sals, attrs, contents, t_sal, t_attr = self._prepared(images, names)
        t["saliency"] = t["start"] + t_sal
        t["attributes"] = time.perf_counter()
        aspects = list(aspects or ASPECTS)
        texts = self._texts(photos, attrs, contents, aspects, seed)
        t["critique"] = time.perf_counter()
        timings = _timings(t, len(photos))
        return [self._record(*row, overlay_dir, timings) for row in zip(names, photos, sals, attrs, contents, texts)]

    def critique_stream(self, images, aspects=None, overlay_dir=None, seed: int = 0, names=None,
                        chunk: int = 4, rows: int | None = None):
        """Photos (any iterable, read as it goes) -> their critique records, in the same order, each
        as soon as it and those before it are done: the records `critique_batch` gives (the same
        texts, up to float ties). The photos are read, measured and encoded `chunk` at a time, and
        their aspects decode as one stream (continuous batching, `AestheticCaptioner.stream_ids`):
        up to `rows` aspects (default `generation.STREAM_ROWS`) at once, and as one ends the next
        photo's take its place, so no row waits for the longest critique of a batch. Timings are per
        photo: its chunk's saliency and attributes divided by the chunk's size, and for the
        critique the stream's time from the record before to this one, less the saliency and
        attributes measured meanwhile. Any unusable photo raises ValueError."""
        from itertools import islice

        images = iter(images)
        names = iter(names) if names is not None else None
        if self.model is None:  # the teacher: no language model to keep busy
            while batch := list(islice(images, chunk)):
                yield from self.critique_batch(batch, aspects, overlay_dir, seed,
                                               names=list(islice(names, len(batch))) if names else None)
            return
        yield from _Stream(self, images, names, aspects, overlay_dir, seed, max(1, chunk), rows).records()

    def _prepared(self, images, names):
        """Photos -> (names, the loaded photos, their saliency maps, measured attributes, content
        labels, seconds of the saliency, seconds of the attributes and content)."""
        from ..images import MIN_SIDE, load_image
        from ..saliency.predict import predict_maps
        from .attributes import measure
        from .content import classify_batch

        t0 = time.perf_counter()
        photos = [load_image(im, min_side=MIN_SIDE) for im in images]
        names = names or [str(im) if isinstance(im, (str, Path)) else "<image>" for im in images]
        sals = predict_maps(self.iasm, photos, [(p.height, p.width) for p in photos])
        t1 = time.perf_counter()
        attrs = _on_the_cores(lambda p, s: measure(p, saliency=s), photos, sals)
        contents = classify_batch(photos, sals)
        return names, photos, sals, attrs, contents, t1 - t0, time.perf_counter() - t1

    def _tidy(self, texts: dict, attrs, label) -> dict:
        """A photo's decoded texts by aspect as shown: checked against its numbers (a model trained
        on the teacher's findings), the subject named."""
        tidy = as_checked if self.model.config.findings else (lambda text, _: text.strip())
        return {a: name_subject(tidy(t, attrs), label) for a, t in texts.items()}

    def _record(self, name, photo, sal, attrs, content, texts, overlay_dir, timings) -> dict:
        from .content import subject_phrase
        from .teacher import claim_map

        peak = divmod(int(sal.argmax()), sal.shape[1])  # (row, col)
        return {"image": name, "critique": texts,
                "overall": texts.get("general_impression") or " ".join(texts.values()),
                # each claim the checker recognises in the text, and whether this photo's numbers back it
                "claims": {a: claim_map(t, attrs) for a, t in texts.items()},
                "attributes": {k: {"value": a.value, "unit": a.unit, "level": a.level} for k, a in attrs.items()},
                "content": {"label": content.label, "confidence": content.confidence, "top5": content.top5,
                            "name": subject_phrase(content),  # what the critique calls it (None: "the subject")
                            "named_in_critique": subject_phrase(content) is not None},
                "saliency": {"overlay": _overlay(name, photo, sal, overlay_dir), "peak": [peak[1], peak[0]]},
                "model": self.name, "timings": timings}

    def _texts(self, photos, attrs, contents, aspects, seed) -> list[dict[str, str]]:
        import torch

        from .content import subject_phrase
        from .findings import prompts as findings_prompts
        from .teacher import critique

        labels = [subject_phrase(c) for c in contents]
        if self.model is None:
            rng = random.Random(seed)
            return [{a: critique(at, a, rng, label).text for a in aspects} for at, label in zip(attrs, labels)]
        per_call = max(1, MAX_SEQUENCES // len(aspects))
        out = []
        for i in range(0, len(photos), per_call):
            chunk = photos[i:i + per_call]
            with torch.no_grad():
                encoded = self.model.encode(chunk)  # once: for the findings and the prompts
            prompts = findings_prompts(self.model, chunk, aspects, encoded, attrs[i:i + per_call])
            gen = self.model.generate(chunk, prompts, max_new_tokens=96, repeat=len(aspects), encoded=encoded)
            out += [dict(zip(aspects, gen[j * len(aspects):(j + 1) * len(aspects)])) for j in range(len(chunk))]
        return [self._tidy(texts, at, label) for texts, at, label in zip(out, attrs, labels)]


class _Stream:
    """`Critic.critique_stream` with a language model: photos read, measured and encoded a chunk
    at a time, as the decoding stream asks for the next photo; records given back in input order."""

    def __init__(self, critic: Critic, images, names, aspects, overlay_dir, seed, chunk: int, rows):
        from ..model.generation import STREAM_ROWS
        from .teacher import ASPECTS

        self.critic, self.images, self.names = critic, images, names
        self.aspects = list(aspects or ASPECTS)
        self.overlay_dir, self.seed, self.chunk, self.rows = overlay_dir, seed, chunk, rows or STREAM_ROWS
        self.photos: dict[int, tuple] = {}  # photo number -> (name, photo, sal, attrs, content, label, timings)
        self.measured = 0.0  # seconds of saliency and attributes since the last record

    def requests(self):
        """(photo number, None, its prompts, its encoding) per photo, a chunk prepared at a time."""
        from itertools import islice

        import torch

        from .content import subject_phrase
        from .findings import prompts as findings_prompts
        from ..model.captioner import Encoded

        model, n = self.critic.model, 0
        while batch := list(islice(self.images, self.chunk)):
            given = list(islice(self.names, len(batch))) if self.names is not None else None
            names, photos, sals, attrs, contents, t_sal, t_attr = self.critic._prepared(batch, given)
            self.measured += t_sal + t_attr
            timings = {"saliency": round(t_sal / len(photos), 3), "attributes": round(t_attr / len(photos), 3)}
            with torch.no_grad():
                encoded = model.encode(photos)  # once: for the findings and the prompts
            prompts = findings_prompts(model, photos, self.aspects, encoded, attrs)
            k = len(self.aspects)
            for j, row in enumerate(zip(names, photos, sals, attrs, contents)):
                self.photos[n] = (*row, subject_phrase(row[4]), timings)
                one = Encoded(*(None if x is None else x[j:j + 1] for x in encoded))
                yield n, None, prompts[j * k:(j + 1) * k], one
                n += 1

    def records(self):
        from ..model.generation import Sampling

        critic, tokenizer = self.critic, self.critic.model.tokenizer
        finished, next_out, since = {}, 0, time.perf_counter()
        for n, ids in critic.model.stream_ids(self.requests(), Sampling(max_new_tokens=96), rows=self.rows):
            name, photo, sal, attrs, content, label, timings = self.photos.pop(n)
            texts = dict(zip(self.aspects, tokenizer.batch_decode(ids, skip_special_tokens=True)))
            finished[n] = (name, photo, sal, attrs, content, critic._tidy(texts, attrs, label), timings)
            while next_out in finished:
                name, photo, sal, attrs, content, texts, timings = finished.pop(next_out)
                now = time.perf_counter()
                spent = max(0.0, now - since - self.measured)
                self.measured = 0.0
                took = timings | {"critique": round(spent, 3)}
                took["total"] = round(sum(took.values()), 3)
                yield critic._record(name, photo, sal, attrs, content, texts, self.overlay_dir, took)
                next_out += 1
                since = time.perf_counter()  # the time the caller spends on a record is not the critic's


def _on_the_cores(fn, *columns) -> list:
    """[fn(*row) for row in zip(*columns)], a row per core at once: the measurements are numpy and
    scipy loops that release the GIL, so a batch's photos are measured side by side, to the same values."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    n = min(len(columns[0]), os.cpu_count() or 1)
    if n < 2:
        return [fn(*row) for row in zip(*columns)]
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, *columns))


def as_checked(text: str, attributes: dict) -> str:
    """A critique of the teacher's claims as shown to a person: the numbers of each claim are the
    measured ones (the model's are guesses: "about 12%" where 1.3% is measured), and a sentence the
    teacher could not have written is dropped (the language model's rare garbles: "The tonal values
    hover around the picture", or "The shadows are well exposed.", which holds a claim's key phrase
    but says something else), unless none would be left; then the sentences holding a known claim
    are kept, or, failing those, the text. Not for a model trained on human critiques, whose
    sentences the teacher's vocabulary does not cover."""
    from .teacher import recognise, restate_numbers, sentences
    from .vocabulary import is_teacher_sentence

    said = sentences(restate_numbers(text, attributes)[0])
    kept = ([s for s in said if is_teacher_sentence(s)] or [s for s in said if recognise(s)]
            or [text.strip()])
    return " ".join(kept)


def name_subject(text: str, label: str | None) -> str:
    """The model (like the teacher without a label) says "the subject"; name it by its coarse name
    when the classifier is confident of it (`content.subject_phrase`): "the subject is centred" ->
    "the cat is centred"."""
    if not label:
        return text
    return re.sub(r"\b([Tt])he subject\b", lambda m: f"{m.group(1)}he {label}", text)


def _overlay(name, photo, sal, overlay_dir) -> str | None:
    from ..saliency.predict import heat_overlay

    if overlay_dir is None:
        return None
    Path(overlay_dir).mkdir(parents=True, exist_ok=True)
    path = Path(overlay_dir) / f"{Path(name).stem if name != '<image>' else 'image'}_overlay.jpg"
    heat_overlay(photo, sal).save(path, quality=90)
    return str(path)


def _timings(t: dict, n: int) -> dict:
    keys = list(t)
    out = {k: round((t[k] - t[prev]) / n, 3) for prev, k in zip(keys, keys[1:])}
    return out | {"total": round((t[keys[-1]] - t["start"]) / n, 3)}


def load(path_or_hf_id: str | None = None, precision: str = "fp32") -> Critic:
    """The default critic (bundled ASE-MLLM, or the teacher without its weights), "teacher", or a
    trained ASE-MLLM (a saved folder or a ModelConfig .json). `precision` "bf16" runs its language
    model in bfloat16 (see `for_inference`)."""
    _check(precision)
    if path_or_hf_id == "teacher" or (path_or_hf_id is None and not (BUNDLED / "config.json").is_file()):
        if precision != "fp32":
            raise ValueError(f"precision {precision!r}: the teacher has no language model to run in it")
        return Critic()
    if path_or_hf_id is None:
        return Critic(for_inference(str(BUNDLED), precision), name=f"asemllm-critic {_version()} (ASE-MLLM trained "
                      "on teacher critiques of real photos; see docs/MODEL_CARD.md)")
    return Critic(for_inference(path_or_hf_id, precision))


def for_inference(path: str, precision: str = "fp32"):
    """The model at `path` as the critic runs it: in eval mode, its LoRA folded into the LM's
    weights (the same tokens, one matmul per projection); a model trained on the teacher's critiques
    (`findings`) decodes over the teacher's vocabulary alone (a smaller output product each step,
    see `asemllm.critic.vocabulary`) and checks guesses of its next tokens from the teacher's
    sentences in the same pass (`TeacherDrafts`; the same text in fewer passes). `precision` "bf16"
    casts the LM (after the fold) to bfloat16. It can no longer be trained. What each gains:
    docs/DESIGN_NOTES.md ("Decoding")."""
    import torch

    from ..models import load_model
    from ..model.language_model import merge_lora
    from .vocabulary import TeacherDrafts, output_ids

    _check(precision)
    model = load_model(path).eval()
    merge_lora(model.lm)
    if model.config.findings:
        model.restrict_output(output_ids(model.tokenizer))
        model.drafter = TeacherDrafts(model.tokenizer, model.config.prompts)
    if precision == "bf16":
        _warn_without_native_bf16()
        model.lm.to(torch.bfloat16)
    return model


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")


def native_bf16() -> bool | None:
    """Does this CPU multiply bfloat16 natively (AVX512-BF16 or AMX)? None where torch cannot say
    (not x86)."""
    import platform

    import torch

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [c for c in checks if c is not None]  # private helpers: gone in some release, say nothing
    return any(c() for c in checks) if checks else None


def _warn_without_native_bf16() -> None:
    import warnings

    if native_bf16() is False:
        warnings.warn("precision bf16: this CPU has no native bfloat16 products (no AVX512-BF16 or AMX), so the "
                      "critic will likely be slower than in fp32", stacklevel=3)


def _version() -> str:
    from .._version import __version__

    return __version__
