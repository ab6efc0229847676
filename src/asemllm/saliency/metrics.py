"""Saliency-map evaluation metrics, in numpy, after the MIT saliency benchmark.

The definitions follow Bylinskii, Judd, Oliva, Torralba and Durand, "What do different
evaluation metrics tell us about saliency models?" (TPAMI 2019, arXiv 2016) and the benchmark's
Matlab code (github.com/cvzoya/saliency, ``code_forMetrics``: AUC_Judd.m, AUC_Borji.m,
AUC_shuffled.m, NSS.m, CC.m, KLdiv.m, similarity.m, InfoGain.m).

Conventions
-----------
* Every map is a 2-D array of shape (H, W); row = y, column = x. All maps given to one call
  must have the same shape: the MIT code silently resizes (``imresize``) the saliency map to
  the fixation map; here resizing is the caller's job and a mismatch raises ``ValueError``.
* ``sal`` is a real-valued saliency map; only finite values are accepted (NaN/inf raise).
* ``fix`` is a fixation map: boolean (or numeric, where > 0 means fixated), True at every pixel
  where at least one fixation landed. As in the MIT code (which indexes with
  ``logical(fixationMap)``) a pixel fixated several times counts once. Build it from
  coordinates with :func:`fixation_map` (0-based pixel-centre (x, y), rounded half up).
* ``density`` is a continuous, non-negative ground-truth fixation density (typically the
  fixation map blurred with a Gaussian of about one degree of visual angle).
* Deterministic: AUC-Judd adds no jitter (the MIT code adds ``rand/1e7`` by default); ties
  are handled exactly instead (see :func:`auc_judd`). AUC-Borji and shuffled AUC draw their
  negatives from ``numpy.random.default_rng(seed)``; they match the MIT numbers up to sampling
  noise only, since Matlab's random stream cannot be reproduced.
* NSS uses the sample standard deviation (ddof=1), as Matlab's ``std`` in NSS.m does.
  pysaliency's ``NSS`` uses ``np.std`` (ddof=0), so its values are larger by a factor
  sqrt(N / (N - 1)) for an N-pixel map (about 2e-6 relative for 500x500 maps).
* Constant saliency maps: NSS and CC are undefined (std 0) and raise ``ValueError``. The AUCs
  give exactly 0.5 (a constant map ranks nothing). KLD, SIM and information gain treat a
  constant map (all zeros included) as the uniform distribution; the MIT code returns NaN for
  SIM/IG there (0/0 in its min-max rescaling) and an eps-dominated number for KLD of an
  all-zero map.
* SIM rescales both maps to [0, 1] before normalising (similarity.m); pysaliency's ``SIM``
  only shifts maps with negative values, so the two agree only for maps whose minimum is 0.
* Degenerate ground truth raises ``ValueError``: an empty fixation map, a density that is
  negative anywhere or sums to 0, and (for AUC-Judd) a fixation map covering every pixel.
"""

from __future__ import annotations

import numpy as np

MIT_EPS = 2.2204e-16  # the regulariser the MIT code uses (Matlab's eps, rounded)


# ----------------------------------------------------------------------------- input checks

def _as_map(metric: str, name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{metric}: {name} must be a 2-D (H, W) map, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{metric}: {name} is empty (shape {a.shape})")
    if not np.isfinite(a).all():
        raise ValueError(f"{metric}: {name} contains NaN or inf")
    return a


def _same_shape(metric: str, **maps: np.ndarray) -> None:
    shapes = {name: np.shape(m) for name, m in maps.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{metric}: maps must have the same shape, got {listed}")


def _as_fix(metric: str, fix, name: str = "fixation map") -> np.ndarray:
    f = np.asarray(fix)
    if f.dtype != np.bool_:
        f = _as_map(metric, name, f)
        if (f < 0).any():
            raise ValueError(f"{metric}: {name} has negative values")
        f = f > 0  # MIT: F>0 / logical(); counts of repeated fixations collapse to one
    elif f.ndim != 2:
        raise ValueError(f"{metric}: {name} must be a 2-D (H, W) map, got shape {f.shape}")
    if not f.any():
        raise ValueError(f"{metric}: {name} is empty (no fixated pixel)")
    return f


def _as_density(metric: str, density) -> np.ndarray:
    d = _as_map(metric, "density", density)
    if (d < 0).any():
        raise ValueError(f"{metric}: density has negative values")
    if d.sum() <= 0:
        raise ValueError(f"{metric}: density sums to 0 (no ground truth)")
    return d


def _is_constant(a: np.ndarray) -> bool:
    # np.std of a constant array can be ~1e-17 rather than 0, so compare the extremes.
    return a.max() == a.min()


def _minmax(a: np.ndarray) -> np.ndarray:
    """Rescale to [0, 1] as the MIT code does; a constant map becomes all zeros (MIT: NaN)."""
    lo, hi = a.min(), a.max()
    return np.zeros_like(a) if hi == lo else (a - lo) / (hi - lo)


def _to_distribution(a: np.ndarray, rescale: bool) -> np.ndarray:
    """Normalise to sum 1 (after a [0, 1] rescale if asked); constant maps become uniform."""
    if _is_constant(a):
        return np.full(a.shape, 1.0 / a.size)
    if rescale:
        a = _minmax(a)
    return a / a.sum()


def _trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    # np.trapezoid only exists from numpy 2.0; the project allows numpy>=1.24.
    return (np.diff(x, axis=-1) * (y[..., 1:] + y[..., :-1]) / 2.0).sum(axis=-1)


# ----------------------------------------------------------------------------- fixation map

def fixation_map(points_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) map, True where at least one of the points lands.

    ``points_xy`` is (N, 2) float (x, y) in 0-based pixel-centre coordinates (pixel (r, c)
    covers x in [c - 0.5, c + 0.5)); each point goes to the nearest pixel, halves rounded up
    (floor(v + 0.5), so no banker's rounding). Data in 1-based pixel indices needs ``- 1``
    first; data in a continuous [0, W] x [0, H] frame needs ``- 0.5``.
    Points outside the frame raise ``ValueError`` rather than being clipped: they usually mean
    swapped x/y, the wrong base, or the wrong image size.
    """
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"fixation_map: points_xy must be (N, 2) (x, y), got shape {pts.shape}")
    if len(pts) == 0:
        raise ValueError("fixation_map: no points (empty fixation map)")
    if not np.isfinite(pts).all():
        raise ValueError("fixation_map: points contain NaN or inf")
    h, w = (int(v) for v in shape)
    if h <= 0 or w <= 0:
        raise ValueError(f"fixation_map: shape must be positive (H, W), got {tuple(shape)}")
    cols = np.floor(pts[:, 0] + 0.5).astype(np.int64)
    rows = np.floor(pts[:, 1] + 0.5).astype(np.int64)
    outside = (cols < 0) | (cols >= w) | (rows < 0) | (rows >= h)
    if outside.any():
        x, y = pts[np.argmax(outside)]
        raise ValueError(
            f"fixation_map: {int(outside.sum())} of {len(pts)} points fall outside the "
            f"{h}x{w} (HxW) frame, e.g. (x={x:g}, y={y:g}); points must be 0-based (x, y)")
    out = np.zeros((h, w), dtype=bool)
    out[rows, cols] = True
    return out


# ----------------------------------------------------------------------------- AUC family

def auc_judd(sal, fix) -> float:
    """AUC-Judd: ROC area with fixated pixels as positives, all other pixels as negatives.

    Thresholds are the saliency values at fixated pixels (MIT AUC_Judd.m); the curve joins
    (0, 0), one point per threshold and (1, 1) with straight lines. Instead of jittering the
    map (MIT default) tied values form one threshold, which makes the score deterministic and
    equal to MIT's unjittered score whenever the fixated values are distinct. A constant map
    gives exactly 0.5. Raises when every pixel is fixated (no negatives).
    """
    s = _as_map("auc_judd", "saliency map", sal)
    f = _as_fix("auc_judd", fix)
    _same_shape("auc_judd", sal=s, fix=f)
    s, f = s.ravel(), f.ravel()
    pos = np.sort(s[f])
    n_pos, n_all = pos.size, s.size
    n_neg = n_all - n_pos
    if n_neg == 0:
        raise ValueError("auc_judd: every pixel is fixated, no negatives to rank against")
    thresholds = np.unique(pos)[::-1]  # distinct fixated values, high to low
    # Counts of values >= t via binary search on sorted arrays: O(N log N), no threshold loop.
    tp_count = n_pos - np.searchsorted(pos, thresholds, side="left")
    all_count = n_all - np.searchsorted(np.sort(s), thresholds, side="left")
    tp = np.concatenate(([0.0], tp_count / n_pos, [1.0]))
    fp = np.concatenate(([0.0], (all_count - tp_count) / n_neg, [1.0]))
    return float(_trapezoid(tp, fp))


def _auc_sampled(pos: np.ndarray, neg: np.ndarray, step: float) -> float:
    """Mean over rows of ``neg`` (splits) of the fixed-step ROC area (AUC_Borji.m loop).

    Values lie in [0, 1]. MIT sweeps thresholds max..0 in ``step`` with max the largest value
    seen; a fixed grid up to 1 is equivalent, as thresholds above every value add the point
    (0, 0) again, which has no area.
    """
    k = int(np.floor(1.0 / step + 1e-9)) + 1
    # round() makes the grid the decimal values 0, 0.1, ... rather than 0.30000000000000004.
    grid = np.round(np.arange(k) * step, 12)
    # bins[v] = number of thresholds <= v; "v >= grid[j]" <=> bins > j.
    pos_hist = np.bincount(np.searchsorted(grid, pos, side="right"), minlength=k + 1)
    n_splits, n_neg = neg.shape
    neg_bins = np.searchsorted(grid, neg, side="right") + (k + 1) * np.arange(n_splits)[:, None]
    neg_hist = np.bincount(neg_bins.ravel(), minlength=n_splits * (k + 1)).reshape(n_splits, k + 1)
    # Reverse cumulative sums give counts >= each threshold, listed from the top threshold down.
    tp = np.cumsum(pos_hist[::-1])[:-1] / pos.size
    fp = np.cumsum(neg_hist[:, ::-1], axis=1)[:, :-1] / n_neg
    tp = np.concatenate(([0.0], tp, [1.0]))
    fp = np.concatenate((np.zeros((n_splits, 1)), fp, np.ones((n_splits, 1))), axis=1)
    return float(_trapezoid(np.broadcast_to(tp, fp.shape), fp).mean())


def _check_splits(metric: str, n_splits: int, step: float) -> None:
    if int(n_splits) < 1:
        raise ValueError(f"{metric}: n_splits must be >= 1, got {n_splits}")
    if not 0.0 < step <= 1.0:
        raise ValueError(f"{metric}: step must be in (0, 1], got {step}")


def auc_borji(sal, fix, n_splits: int = 100, step: float = 0.1, seed: int = 0) -> float:
    """AUC-Borji: ROC area against negatives drawn uniformly from all pixels (AUC_Borji.m).

    The map is min-max rescaled to [0, 1]; per split, as many pixels as fixated pixels are
    drawn with replacement from the whole map (fixated ones included, as in MIT), thresholds
    step through 1, 1 - step, ..., 0, and the score is the mean area over ``n_splits`` splits.
    A constant map gives exactly 0.5.
    """
    _check_splits("auc_borji", n_splits, step)
    s = _as_map("auc_borji", "saliency map", sal)
    f = _as_fix("auc_borji", fix)
    _same_shape("auc_borji", sal=s, fix=f)
    s = _minmax(s).ravel()
    pos = s[f.ravel()]
    rng = np.random.default_rng(seed)
    neg = s[rng.integers(0, s.size, size=(int(n_splits), pos.size))]
    return _auc_sampled(pos, neg, step)


def auc_shuffled(sal, fix, other_fix, n_splits: int = 100, step: float = 0.1,
                 seed: int = 0) -> float:
    """Shuffled AUC: negatives are fixated pixels of other images (AUC_shuffled.m).

    ``other_fix`` pools other images' fixations on this frame. Per split,
    min(#fixated, #other) of its pixels are drawn without replacement (pixels also fixated on
    this image are kept, as in MIT); otherwise as :func:`auc_borji`. Since other images share the observers' centre bias, a pure centre
    prior scores about 0.5 here. A constant map gives exactly 0.5.
    """
    _check_splits("auc_shuffled", n_splits, step)
    s = _as_map("auc_shuffled", "saliency map", sal)
    f = _as_fix("auc_shuffled", fix)
    o = _as_fix("auc_shuffled", other_fix, name="other_fix")
    _same_shape("auc_shuffled", sal=s, fix=f, other_fix=o)
    s = _minmax(s).ravel()
    pos = s[f.ravel()]
    other = s[np.flatnonzero(o.ravel())]
    k = min(pos.size, other.size)
    rng = np.random.default_rng(seed)
    # choice without replacement per split: the first k of a random permutation, as in MIT.
    neg = np.stack([rng.choice(other, size=k, replace=False) for _ in range(int(n_splits))])
    return _auc_sampled(pos, neg, step)


# ----------------------------------------------------------------------------- NSS, CC

def nss(sal, fix) -> float:
    """Normalized Scanpath Saliency: mean of the standardised map over fixated pixels.

    The map is standardised with the sample std (ddof=1, Matlab ``std`` as in NSS.m; see the
    module docstring for pysaliency's ddof=0). Invariant to ``a * sal + b`` for a > 0.
    A constant map has std 0 and raises ``ValueError``.
    """
    s = _as_map("nss", "saliency map", sal)
    f = _as_fix("nss", fix)
    _same_shape("nss", sal=s, fix=f)
    if _is_constant(s):
        raise ValueError("nss: saliency map is constant (std 0), NSS is undefined")
    z = (s - s.mean()) / s.std(ddof=1)
    return float(z[f].mean())


def cc(sal, density) -> float:
    """Pearson correlation coefficient between the saliency map and the density (CC.m).

    Symmetric, in [-1, 1]; the ddof convention cancels. A constant map (either one) has
    std 0 and raises ``ValueError``.
    """
    s = _as_map("cc", "saliency map", sal)
    d = _as_density("cc", density)
    _same_shape("cc", sal=s, density=d)
    if _is_constant(s):
        raise ValueError("cc: saliency map is constant (std 0), CC is undefined")
    if _is_constant(d):
        raise ValueError("cc: density is constant (std 0), CC is undefined")
    a, b = s - s.mean(), d - d.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


# ----------------------------------------------------------------------------- distributions

def kld(sal, density, eps: float = MIT_EPS) -> float:
    """KL divergence of the density from the saliency map, in nats (KLdiv.m).

    Both maps are divided by their sums (no min-max rescale), then
    ``sum(d * log(eps + d / (s + eps)))``. Lower is better; 0 for identical maps. The saliency
    map must be non-negative (it is read as a probability map; negative values raise). A
    constant map, all zeros included, is the uniform distribution: KLD = log(N) - H(density).
    """
    s = _as_map("kld", "saliency map", sal)
    d = _as_density("kld", density)
    _same_shape("kld", sal=s, density=d)
    if (s < 0).any():
        raise ValueError("kld: saliency map has negative values; KLD needs a non-negative map")
    p = _to_distribution(s, rescale=False)
    q = d / d.sum()
    return float((q * np.log(eps + q / (p + eps))).sum())


def sim(sal, density) -> float:
    """Similarity (histogram intersection): sum of the pixelwise minimum (similarity.m).

    Each map is rescaled to [0, 1], then divided by its sum, so the score is in [0, 1] and 1
    only for identical distributions. A constant map is the uniform distribution (MIT: NaN).
    """
    s = _as_map("sim", "saliency map", sal)
    d = _as_density("sim", density)
    _same_shape("sim", sal=s, density=d)
    return float(np.minimum(_to_distribution(s, True), _to_distribution(d, True)).sum())


def information_gain(sal, fix, baseline, eps: float = MIT_EPS) -> float:
    """Information gain over a baseline, in bits per fixated pixel (InfoGain.m).

    Both maps are rescaled to [0, 1] and divided by their sums, then
    ``mean(log2(eps + p[fix]) - log2(eps + b[fix]))``. Note the MIT rescale gives the
    minimum pixel probability 0, so a fixation there costs about log2(eps) = -52 bits.
    0 when ``sal`` equals the baseline; a constant map is the uniform distribution.
    """
    s = _as_map("information_gain", "saliency map", sal)
    b = _as_map("information_gain", "baseline", baseline)
    f = _as_fix("information_gain", fix)
    _same_shape("information_gain", sal=s, fix=f, baseline=b)
    p, q = _to_distribution(s, True)[f], _to_distribution(b, True)[f]
    return float((np.log2(eps + p) - np.log2(eps + q)).mean())


def all_metrics(sal, fix, density, other_fix=None, baseline=None) -> dict[str, float]:
    """Every metric of this module for one image, with default parameters.

    Keys ``auc_judd, auc_borji, nss, cc, kld, sim``, plus ``sauc`` when ``other_fix`` is
    given and ``ig`` when ``baseline`` is given.
    """
    out = {
        "auc_judd": auc_judd(sal, fix),
        "auc_borji": auc_borji(sal, fix),
        "nss": nss(sal, fix),
        "cc": cc(sal, density),
        "kld": kld(sal, density),
        "sim": sim(sal, density),
    }
    if other_fix is not None:
        out["sauc"] = auc_shuffled(sal, fix, other_fix)
    if baseline is not None:
        out["ig"] = information_gain(sal, fix, baseline)
    return out
