"""Caption metrics: the standard COCO caption numbers, computed offline.

Implementations (nothing else is used; nltk's METEOR and rouge-score's ROUGE-L are different
metrics and are deliberately not used):

* package ``pycocoevalcap`` (1.2, the COCO caption evaluation code) plus a Java runtime (JRE 8+);
* tokenisation: Stanford PTBTokenizer from the ``stanford-corenlp-3.4.1.jar`` inside
  pycocoevalcap, run with the same command, options (``-preserveLines -lowerCase``) and
  punctuation filter as ``pycocoevalcap.tokenizer.ptbtokenizer.PTBTokenizer``, but with its
  input file in a private temporary directory instead of inside site-packages (pycocoevalcap's
  own wrapper writes there and fails when site-packages is read-only). Characters that Java's
  tokenizer treats as line breaks (``\\r \\v \\f \\u2028 \\u2029``) are turned into spaces and
  the line count is checked: pycocoevalcap's wrapper silently shifts every later caption onto
  the wrong image when a caption contains one. References and predictions are tokenised in two
  separate runs, as ``COCOEvalCap`` does;
* BLEU-1..4: ``pycocoevalcap.bleu.bleu_scorer.BleuScorer(n=4)`` with the ``"closest"``
  reference length, driven exactly as ``pycocoevalcap.bleu.Bleu.compute_score`` drives it
  (without its printing). The corpus score comes from the summed clipped n-gram counts and
  lengths, so it is *not* the mean of the per-image (sentence) BLEU scores;
* METEOR 1.5: ``meteor-1.5.jar`` through ``pycocoevalcap.meteor.meteor.Meteor`` (``java -jar
  -Xmx2G meteor-1.5.jar - - -stdio -l en -norm``; Eval ID
  ``meteor-1.5-wo-en-norm-0.85_0.2_0.6_0.75-ex_st_sy_pa-1.0_0.6_0.8_0.6``). The per-image
  scores and the corpus score are the jar's own: the corpus score is the jar's aggregate over
  the summed per-image statistics, *not* the mean of the per-image scores;
* ROUGE-L: ``pycocoevalcap.rouge.Rouge`` (beta 1.2; corpus = mean of per-image scores);
* CIDEr-D: ``pycocoevalcap.cider.Cider`` (n 4, sigma 6.0; corpus = mean of per-image scores).
  Its document frequencies come from the references of the images scored together, so a
  subset of a test set scores differently from the same images inside the full set, and one
  image scored alone gets ~0. Take per-image CIDEr-D from ``score_captions(...)["per_image"]``
  of the full set, never by scoring images one at a time;
* SPICE: not computed. pycocoevalcap's SPICE needs Stanford CoreNLP 3.6.0, which it downloads
  from nlp.stanford.edu at first use; no package registry carries it. It is reported under
  ``"unavailable"`` with the reason, never as a number.

``bootstrap_ci`` gives 95% percentile intervals over images resampled with replacement; see its
docstring for how each metric is recomputed on a resample.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence

JAVA_INSTALL_HINT = (
    "install a Java runtime (JRE 8+), e.g. `apt-get install default-jre-headless` on "
    "Debian/Ubuntu, and make sure `java` is on PATH"
)

METRICS = ("bleu", "meteor", "rouge", "cider")
METRIC_KEYS = {
    "bleu": ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"),
    "meteor": ("METEOR",),
    "rouge": ("ROUGE-L",),
    "cider": ("CIDEr-D",),
}

# What meteor-1.5.jar prints for `-l en -norm` (pycocoevalcap's options). The Python aggregate
# below uses these parameters; tests check it against the jar's own scores on real text.
METEOR_EVAL_ID = "meteor-1.5-wo-en-norm-0.85_0.2_0.6_0.75-ex_st_sy_pa-1.0_0.6_0.8_0.6"
METEOR_PARAMETERS = {"alpha": 0.85, "beta": 0.2, "gamma": 0.6, "delta": 0.75}
METEOR_MODULES = ("exact", "stem", "synonym", "paraphrase")
METEOR_MODULE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)
METEOR_N_STATS = 23  # numbers per "SCORE" reply of the jar (see _meteor_from_stats)

SPICE_REASON = (
    "SPICE cannot run offline here: pycocoevalcap's spice-1.0.jar needs Stanford CoreNLP 3.6.0 "
    "(stanford-corenlp-3.6.0.jar and -models.jar in pycocoevalcap/spice/lib), which pycocoevalcap "
    "downloads from nlp.stanford.edu at first use; no package registry carries it. SPICE is "
    "therefore not reported (it is not 0)."
)

# Characters that Java's PTBTokenizer -preserveLines ends a line at (checked with CoreNLP 3.4.1).
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\u2028\u2029"})
_BLEU_TINY, _BLEU_SMALL = 1e-15, 1e-9  # pycocoevalcap's BleuScorer constants


# ----------------------------------------------------------------------------------- Java


def java_status(timeout: float = 30.0) -> tuple[bool, str]:
    """Whether a usable ``java`` is on PATH, and a one-line message (its version, or the problem)."""
    java = shutil.which("java")
    if java is None:
        return False, f"no `java` on PATH: {JAVA_INSTALL_HINT}"
    try:
        p = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"`{java} -version` did not answer within {timeout:g} s: {JAVA_INSTALL_HINT}"
    except OSError as e:
        return False, f"`{java} -version` could not run ({e}): {JAVA_INSTALL_HINT}"
    lines = [ln.strip() for ln in (p.stderr + "\n" + p.stdout).splitlines() if ln.strip()]
    if p.returncode != 0:
        detail = lines[0] if lines else f"exit status {p.returncode}"
        return False, f"`{java} -version` failed ({detail}): {JAVA_INSTALL_HINT}"
    return True, f"{lines[0] if lines else 'java'} ({java})"


def require_java() -> str:
    """Return the Java version line, or raise ``RuntimeError`` saying how to install Java."""
    ok, msg = java_status()
    if not ok:
        raise RuntimeError(
            "the caption metrics need Java (pycocoevalcap runs the Stanford PTB tokenizer and "
            f"METEOR 1.5 as Java jars): {msg}"
        )
    return msg


# ------------------------------------------------------------------------------ scoring


def score_captions(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    metrics: Iterable[str] = METRICS,
    spice: bool = False,
) -> dict:
    """Score one prediction per image against its references with the COCO caption metrics.

    ``predictions`` maps image id -> generated text (may be empty: it scores 0);
    ``references`` maps the same ids -> a non-empty list of non-empty reference texts.
    ``metrics`` is any subset of ``("bleu", "meteor", "rouge", "cider")``.

    Returns a JSON-serialisable dict:

    * ``"corpus"``: ``{"BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D": float}`` (those asked for);
    * ``"per_image"``: ``{id: {same keys: float}}`` (BLEU here is sentence BLEU with
      pycocoevalcap's smoothing constants; CIDEr-D is taken from the whole set's computation);
    * ``"unavailable"``: ``{"SPICE": reason}``;
    * ``"config"``: exactly what was run (implementations, options, versions, counts);
    * ``"stats"``: per-image sufficient statistics for ``bootstrap_ci``: ``"bleu"`` ->
      ``[testlen, closest reflen, guess_1..4, correct_1..4]``, ``"meteor"`` -> the jar's 23 numbers;
    * ``"timing_s"``: seconds spent per stage.

    Scores are on pycocoevalcap's scale (0..1; CIDEr-D 0..10). Raises ``ValueError`` when the
    ids differ (naming them) or a reference list/text is empty, ``RuntimeError`` without Java.
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(dict.fromkeys(m.lower() for m in metrics))
    if "spice" in metrics:
        spice, metrics = True, tuple(m for m in metrics if m != "spice")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {METRICS} (SPICE: spice=True)")
    if not metrics:
        raise ValueError(f"no metric asked for; choose from {METRICS}")
    ids = _check_inputs(predictions, references)
    try:
        import pycocoevalcap.tokenizer.ptbtokenizer  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "score_captions needs pycocoevalcap (pip install 'pycocoevalcap==1.2') and Java"
        ) from e
    java = require_java()

    timing: dict[str, float] = {}
    t = time.perf_counter()
    gts = _ptb_tokenize({i: list(references[i]) for i in ids})
    res = _ptb_tokenize({i: [predictions[i]] for i in ids})
    timing["tokenize"] = time.perf_counter() - t
    for i in ids:
        for j, r in enumerate(gts[i]):
            if not r.strip():
                raise ValueError(
                    f"reference {j} of image {i!r} is empty after PTB tokenisation "
                    f"(punctuation only: {references[i][j]!r}); drop it before scoring"
                )

    corpus: dict[str, float] = {}
    per_image: dict[str, dict[str, float]] = {i: {} for i in ids}
    stats: dict[str, dict] = {}
    config = _base_config(ids, references, metrics, java)

    if "bleu" in metrics:
        t = time.perf_counter()
        bleu_corpus, bleu_images, stats["bleu"] = _bleu(ids, gts, res)
        for k, key in enumerate(METRIC_KEYS["bleu"]):
            corpus[key] = bleu_corpus[k]
            for i, v in zip(ids, bleu_images[k]):
                per_image[i][key] = v
        timing["bleu"] = time.perf_counter() - t
    if "meteor" in metrics:
        t = time.perf_counter()
        corpus["METEOR"], met_images, stats["meteor"], config["meteor"]["command"] = _meteor(
            ids, gts, res
        )
        for i, v in zip(ids, met_images):
            per_image[i]["METEOR"] = v
        timing["meteor"] = time.perf_counter() - t
    if "rouge" in metrics:
        from pycocoevalcap.rouge.rouge import Rouge

        rouge = Rouge()
        _mean_metric("ROUGE-L", rouge, ids, gts, res, corpus, per_image, timing)
        config["rouge"]["beta"] = float(rouge.beta)
    if "cider" in metrics:
        from pycocoevalcap.cider.cider import Cider

        cider = Cider()
        _mean_metric("CIDEr-D", cider, ids, gts, res, corpus, per_image, timing)
        config["cider"].update(n=int(cider._n), sigma=float(cider._sigma))

    if spice:
        reason = _spice_reason()
    else:
        reason = "not requested (spice=False); " + _spice_reason()
    config["spice"] = {"computed": False, "reason": reason}
    return {
        "corpus": corpus,
        "per_image": per_image,
        "unavailable": {"SPICE": reason},
        "config": config,
        "stats": stats,
        "timing_s": timing,
    }


def _mean_metric(key, scorer, ids, gts, res, corpus, per_image, timing) -> None:
    """A pycocoevalcap scorer whose corpus score is the mean of its per-image scores."""
    t = time.perf_counter()
    score, scores = scorer.compute_score(gts, res)
    corpus[key] = float(score)
    for i, v in zip(ids, scores):
        per_image[i][key] = float(v)
    timing[key.split("-")[0].lower()] = time.perf_counter() - t


def _check_inputs(predictions, references) -> list:
    if not isinstance(predictions, Mapping) or not isinstance(references, Mapping):
        raise TypeError("predictions and references must be dicts keyed by image id")
    p, r = set(predictions), set(references)
    if p != r:
        only_r = [i for i in references if i not in p]
        only_p = [i for i in predictions if i not in r]
        parts = []
        if only_r:
            parts.append(f"{len(only_r)} id(s) have references but no prediction: {only_r[:5]!r}")
        if only_p:
            parts.append(f"{len(only_p)} id(s) have a prediction but no references: {only_p[:5]!r}")
        raise ValueError("predictions and references must have the same image ids; " + "; ".join(parts))
    if not predictions:
        raise ValueError("nothing to score: no image ids")
    ids = list(predictions)
    for i in ids:
        if not isinstance(predictions[i], str):
            raise TypeError(
                f"prediction for image {i!r} must be one string, got {type(predictions[i]).__name__}"
            )
        refs = references[i]
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise TypeError(f"references for image {i!r} must be a list of strings")
        if len(refs) == 0:
            raise ValueError(f"image {i!r} has an empty reference list")
        for j, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise TypeError(f"reference {j} of image {i!r} is not a string")
            if not ref.strip():
                raise ValueError(f"reference {j} of image {i!r} is empty; drop it before scoring")
    return ids


def _package_dir() -> str:
    # pycocoevalcap 1.2 has no __init__.py (a namespace package): locate it through a module.
    from pycocoevalcap.tokenizer import ptbtokenizer

    return os.path.dirname(os.path.dirname(os.path.abspath(ptbtokenizer.__file__)))


def _ptb_tokenize(captions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """pycocoevalcap's PTBTokenizer.tokenize, with its input file outside site-packages.

    Same jar, class, options and punctuation filter; ``captions`` maps id -> list of strings
    (not pycocoevalcap's ``[{"caption": s}]``). Raises ``RuntimeError`` if Java fails or the
    number of output lines does not match.
    """
    from pycocoevalcap.tokenizer import ptbtokenizer as ptb

    jar = os.path.join(_package_dir(), "tokenizer", ptb.STANFORD_CORENLP_3_4_1_JAR)
    keys = [k for k, v in captions.items() for _ in range(len(v))]
    lines_in = [c.replace("\n", " ").translate(_LINE_BREAKS) for v in captions.values() for c in v]
    punct = set(ptb.PUNCTUATIONS)
    with tempfile.TemporaryDirectory(prefix="asemllm-ptb-") as tmp:
        path = os.path.join(tmp, "captions.txt")
        with open(path, "wb") as f:
            f.write("\n".join(lines_in).encode())
        cmd = ["java", "-cp", jar, "edu.stanford.nlp.process.PTBTokenizer",
               "-preserveLines", "-lowerCase", path]
        p = subprocess.run(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError(
            f"PTBTokenizer failed (exit {p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}"
        )
    lines = p.stdout.decode().split("\n")
    if len(lines) < len(keys) or any(ln.strip() for ln in lines[len(keys):]):
        raise RuntimeError(
            f"PTBTokenizer returned {len(lines)} lines for {len(keys)} captions; "
            "a caption contains a line break the tokenizer splits on"
        )
    out: dict[str, list[str]] = {}
    for k, line in zip(keys, lines):
        out.setdefault(k, []).append(" ".join(w for w in line.rstrip().split(" ") if w not in punct))
    return out


def _bleu(ids, gts, res):
    """BLEU-1..4 exactly as pycocoevalcap's Bleu(4).compute_score, plus per-image statistics."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    scorer = BleuScorer(n=4)
    for i in ids:
        scorer += (res[i][0], gts[i])
    score, scores = scorer.compute_score(option="closest", verbose=0)
    stats = {}
    for i, comps in zip(ids, scorer.ctest):
        reflen = scorer._single_reflen(comps["reflen"], "closest", comps["testlen"])
        stats[i] = [int(comps["testlen"]), int(reflen)] + [int(x) for x in comps["guess"]] + [
            int(x) for x in comps["correct"]
        ]
    return [float(s) for s in score], [[float(v) for v in row] for row in scores], stats


def _meteor(ids, gts, res):
    """METEOR 1.5 through pycocoevalcap's Meteor (same protocol as its compute_score).

    Returns corpus score, per-image scores, per-image statistics (23 numbers each) and the
    command run. The '|||' separator is removed from hypotheses (as pycocoevalcap does) and
    also from references (pycocoevalcap does not, and would then split a reference in two).
    """
    from pycocoevalcap.meteor.meteor import Meteor

    m = Meteor()
    try:
        with m.lock:
            return _meteor_run(m, ids, gts, res)
    except (BrokenPipeError, ValueError) as e:
        raise RuntimeError(f"METEOR jar failed ({e!r}): {_drain(m)}") from e
    finally:
        _close_meteor(m)


def _meteor_run(m, ids, gts, res):
    stat_lines = []
    for i in ids:
        refs = [r.replace("|||", "") for r in gts[i]]
        stat = m._stat(res[i][0], refs)
        if not stat:
            raise RuntimeError(f"METEOR jar stopped answering: {_drain(m)}")
        stat_lines.append(stat)
    m.meteor_p.stdin.write(("EVAL ||| " + " ||| ".join(stat_lines) + "\n").encode())
    m.meteor_p.stdin.flush()
    out = [m.meteor_p.stdout.readline().decode().strip() for _ in range(len(ids) + 1)]
    if not all(out):
        raise RuntimeError(f"METEOR jar stopped answering: {_drain(m)}")
    scores = [float(x) for x in out[:-1]]
    stats = {i: [float(x) for x in s.split()] for i, s in zip(ids, stat_lines)}
    return float(out[-1]), scores, stats, list(m.meteor_cmd)


def _drain(m) -> str:
    try:
        m.meteor_p.kill()
        return m.meteor_p.stderr.read().decode(errors="replace")[-2000:]
    except Exception as e:  # pragma: no cover - best effort for the error message only
        return repr(e)


def _close_meteor(m) -> None:
    # pycocoevalcap's __del__ does the same later; doing it now frees the JVM (2 GB heap) at once.
    p = m.meteor_p
    for f in (p.stdin, p.stdout, p.stderr):
        try:
            f.close()
        except OSError:
            pass
    p.kill()
    p.wait()


def _spice_reason() -> str:
    lib = os.path.join(_package_dir(), "spice", "lib")
    if os.path.exists(os.path.join(lib, "stanford-corenlp-3.6.0.jar")):
        return (
            "SPICE is not computed by this module: Stanford CoreNLP 3.6.0 is present in "
            f"{lib}, but running SPICE here is untested (it writes tmp/ and cache/ inside "
            "site-packages and asks for an 8 GB Java heap). It is not reported (it is not 0)."
        )
    return SPICE_REASON


def _base_config(ids, references, metrics, java) -> dict:
    from importlib.metadata import version

    from pycocoevalcap.tokenizer import ptbtokenizer as ptb

    n_refs = [len(references[i]) for i in ids]
    config: dict = {
        "package": "pycocoevalcap",
        "package_version": version("pycocoevalcap"),
        "java": java,
        "n_images": len(ids),
        "n_references": int(sum(n_refs)),
        "references_per_image": {"min": min(n_refs), "max": max(n_refs)},
        "metrics": list(metrics),
        "tokenizer": {
            "name": "PTBTokenizer",
            "jar": ptb.STANFORD_CORENLP_3_4_1_JAR,
            "class": "edu.stanford.nlp.process.PTBTokenizer",
            "options": ["-preserveLines", "-lowerCase"],
            "punctuation_removed": list(ptb.PUNCTUATIONS),
            "applied_to": "references and predictions, in two separate runs (as COCOEvalCap)",
            "line_breaks_to_space": ["\\n", "\\r", "\\x0b", "\\x0c", "\\u2028", "\\u2029"],
            "input_file": "private temporary directory (not site-packages)",
        },
    }
    if "bleu" in metrics:
        config["bleu"] = {
            "implementation": "pycocoevalcap.bleu.bleu_scorer.BleuScorer (as Bleu.compute_score)",
            "n": 4,
            "ref_length": "closest",
            "corpus": "from summed clipped n-gram counts and lengths (not a mean of per-image)",
            "per_image": "sentence BLEU with pycocoevalcap's smoothing (1e-15 / 1e-9)",
        }
    if "meteor" in metrics:
        config["meteor"] = {
            "implementation": "pycocoevalcap.meteor.meteor.Meteor (meteor-1.5.jar)",
            "version": "1.5",
            "jar": "meteor-1.5.jar",
            "command": None,  # filled in from the Meteor object that ran
            "language": "en",
            "normalize": True,
            "eval_id": METEOR_EVAL_ID,
            "parameters": dict(METEOR_PARAMETERS),
            "modules": list(METEOR_MODULES),
            "module_weights": list(METEOR_MODULE_WEIGHTS),
            "corpus": "the jar's aggregate over the summed per-image statistics (EVAL), "
                      "not a mean of per-image scores",
        }
    if "rouge" in metrics:
        config["rouge"] = {
            "implementation": "pycocoevalcap.rouge.rouge.Rouge",
            "variant": "ROUGE-L",
            "beta": None,  # filled in from the Rouge object that ran
            "per_image": "F_beta of the max LCS precision and max LCS recall over references",
            "corpus": "mean of per-image scores",
        }
    if "cider" in metrics:
        config["cider"] = {
            "implementation": "pycocoevalcap.cider.cider.Cider",
            "variant": "CIDEr-D",
            "n": None,
            "sigma": None,  # filled in from the Cider object that ran
            "df": "corpus: document frequencies from the references of the scored set "
                  "(a subset scores differently; one image alone scores ~0)",
            "corpus": "mean of per-image scores",
        }
    return config


# --------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    per_image: Mapping[str, Mapping[str, float]],
    n: int = 1000,
    seed: int = 0,
    *,
    stats: Mapping[str, Mapping] | None = None,
    level: float = 0.95,
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals (95% by default) over images resampled with replacement.

    ``per_image`` and ``stats`` are ``score_captions(...)["per_image"]`` and ``[...]["stats"]``.
    Every metric is recomputed on the same ``n`` resamples (``numpy.random.default_rng(seed)``):

    * ROUGE-L, CIDEr-D: the mean of the resampled per-image scores (that is how their corpus
      score is defined). CIDEr-D keeps the document frequencies of the full set;
    * BLEU-1..4 with ``stats["bleu"]``: corpus BLEU recomputed from the resampled per-image
      n-gram counts and lengths (pycocoevalcap's formula, closest reference length);
    * METEOR with ``stats["meteor"]``: the METEOR 1.5 aggregate recomputed from the resampled
      per-image statistics (the jar's aggregation, formula and parameters; on the full set it
      equals the jar's corpus score);
    * without ``stats``, BLEU and METEOR fall back to the mean of per-image scores, which is a
      different quantity from their corpus score; those keys are then labelled
      ``"BLEU-4 (mean of per-image)"`` etc.

    Returns ``{metric: [lo, hi]}`` as plain floats.
    """
    import numpy as np

    ids = list(per_image)
    if not ids:
        raise ValueError("no images")
    if n < 1:
        raise ValueError("n must be >= 1")
    keys = list(per_image[ids[0]])
    for i in ids:
        if list(per_image[i]) != keys:
            raise ValueError(f"image {i!r} has metrics {list(per_image[i])}, expected {keys}")
    stats = stats or {}
    N = len(ids)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, N, size=(n, N))
    # counts[b, j] = how often image j is drawn in resample b (built in chunks to bound memory)
    chunk = max(1, 4_000_000 // N)

    def resampled_sums(x: np.ndarray) -> np.ndarray:  # x: (N, d) -> (n, d)
        out = []
        for s in range(0, n, chunk):
            part = idx[s : s + chunk]
            rows = np.arange(part.shape[0])[:, None] * N
            counts = np.bincount((part + rows).ravel(), minlength=part.shape[0] * N)
            out.append(counts.reshape(part.shape[0], N).astype(np.float64) @ x)
        return np.concatenate(out)

    lo_q, hi_q = 50 * (1 - level), 100 - 50 * (1 - level)
    result: dict[str, list[float]] = {}

    def put(key, values):
        lo, hi = np.percentile(values, [lo_q, hi_q])
        result[key] = [float(lo), float(hi)]

    bleu_keys = [k for k in keys if k in METRIC_KEYS["bleu"]]
    if bleu_keys and "bleu" in stats:
        sums = resampled_sums(np.array([stats["bleu"][i] for i in ids], dtype=np.float64))
        bleus = _bleu_from_stats(sums)
        for k in bleu_keys:
            put(k, bleus[:, METRIC_KEYS["bleu"].index(k)])
    if "METEOR" in keys and "meteor" in stats:
        rows = _meteor_summable(np.array([stats["meteor"][i] for i in ids], dtype=np.float64))
        put("METEOR", _meteor_from_stats(resampled_sums(rows)))

    exact = set(bleu_keys) if "bleu" in stats else set()
    if "meteor" in stats:
        exact.add("METEOR")
    rest = [k for k in keys if k not in exact]
    if rest:
        means = resampled_sums(np.array([[per_image[i][k] for k in rest] for i in ids])) / N
        for j, k in enumerate(rest):
            label = k if k not in ("METEOR", *METRIC_KEYS["bleu"]) else f"{k} (mean of per-image)"
            put(label, means[:, j])
    return result


def _bleu_from_stats(sums):
    """Corpus BLEU-1..4 from summed [testlen, reflen, guess_1..4, correct_1..4] rows (..., 10).

    The arithmetic of pycocoevalcap's BleuScorer.compute_score, vectorised.
    """
    import numpy as np

    sums = np.asarray(sums, dtype=np.float64)
    testlen, reflen, guess, correct = sums[..., 0], sums[..., 1], sums[..., 2:6], sums[..., 6:10]
    out = np.empty(sums.shape[:-1] + (4,))
    bleu = np.ones(sums.shape[:-1])
    for k in range(4):
        bleu = bleu * (correct[..., k] + _BLEU_TINY) / (guess[..., k] + _BLEU_SMALL)
        out[..., k] = bleu ** (1.0 / (k + 1))
    ratio = (testlen + _BLEU_TINY) / (reflen + _BLEU_SMALL)
    with np.errstate(over="ignore", divide="ignore"):
        brevity = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
    return out * brevity[..., None]


def _meteor_summable(stats):
    """Per-image jar statistics (k, 23) made summable: the METEOR corpus statistic of a set of
    images is the column sum of these rows (``_meteor_from_stats`` of it gives the jar's corpus
    score). The jar's aggregation adds every number except the chunk count of a segment whose
    words all matched in one chunk (a perfect match), so that count is zeroed here.
    """
    import numpy as np

    s = np.array(stats, dtype=np.float64)
    t_total = sum(s[..., 4 + 4 * k] + s[..., 6 + 4 * k] for k in range(4))
    r_total = sum(s[..., 5 + 4 * k] + s[..., 7 + 4 * k] for k in range(4))
    perfect = (t_total == s[..., 0]) & (r_total == s[..., 1]) & (s[..., 20] == 1.0)
    s[..., 20] = np.where(perfect, 0.0, s[..., 20])
    return s


def meteor_corpus_from_stats(stats) -> float:
    """The jar's corpus METEOR from per-image statistics (``score_captions(...)["stats"]["meteor"]``
    values, in any order)."""
    return float(_meteor_from_stats(_meteor_summable(stats).sum(0)))


def _meteor_from_stats(stats):
    """METEOR 1.5 score(s) from jar statistics, shape (..., 23): one image's, or a column sum
    of ``_meteor_summable`` rows for a set of images.

    The 23 numbers are: test length, reference length, test function words, reference function
    words; for each of the 4 stages (exact, stem, synonym, paraphrase) test content matches,
    reference content matches, test function matches, reference function matches; chunks, test
    word matches, reference word matches. Same arithmetic as the jar's computeMetrics with the
    ``-l en -norm`` parameters; NaN (0/0) becomes 0 and negatives are clipped to 0, as there.
    """
    import numpy as np

    s = np.asarray(stats, dtype=np.float64)
    if s.shape[-1] != METEOR_N_STATS:
        raise ValueError(f"METEOR statistics need {METEOR_N_STATS} numbers, got {s.shape[-1]}")
    a, b, g, d = (METEOR_PARAMETERS[k] for k in ("alpha", "beta", "gamma", "delta"))
    w = METEOR_MODULE_WEIGHTS
    tlen, rlen, tfun, rfun = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
    stage = [s[..., 4 + 4 * k : 8 + 4 * k] for k in range(4)]  # tc, rc, tf, rf per stage
    chunks, twords, rwords = s[..., 20], s[..., 21], s[..., 22]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_wlen = d * (tlen - tfun) + (1.0 - d) * tfun
        r_wlen = d * (rlen - rfun) + (1.0 - d) * rfun
        t_match = np.zeros_like(tlen)
        r_match = np.zeros_like(tlen)
        for k in range(4):
            t_match = t_match + stage[k][..., 0] * w[k] * d
        for k in range(4):
            r_match = r_match + stage[k][..., 1] * w[k] * d
        for k in range(4):
            t_match = t_match + stage[k][..., 2] * w[k] * (1.0 - d)
        for k in range(4):
            r_match = r_match + stage[k][..., 3] * w[k] * (1.0 - d)
        precision = t_match / t_wlen
        recall = r_match / r_wlen
        fmean = 1.0 / ((1.0 - a) / precision + a / recall)
        t_total = sum(stage[k][..., 0] + stage[k][..., 2] for k in range(4))
        r_total = sum(stage[k][..., 1] + stage[k][..., 3] for k in range(4))
        whole = (t_total == tlen) & (r_total == rlen) & (chunks == 1)
        frag = np.where(whole, 0.0, chunks / ((twords + rwords) / 2))
        score = fmean * (1.0 - g * np.power(frag, b))
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


__all__ = [
    "JAVA_INSTALL_HINT",
    "METRICS",
    "METRIC_KEYS",
    "bootstrap_ci",
    "java_status",
    "meteor_corpus_from_stats",
    "require_java",
    "score_captions",
]
