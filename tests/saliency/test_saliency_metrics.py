"""Saliency metrics: hand-computed values, MIT-code equivalence, properties, errors, real data."""

import math

import numpy as np
import pytest

from asemllm.saliency import metrics as M

# A 3x3 ramp used by several hand computations:
#   0.1 0.2 0.3
#   0.4 0.5 0.6
#   0.7 0.8 0.9
RAMP = np.arange(1, 10, dtype=float).reshape(3, 3) / 10


def _fix(shape, *rc):
    f = np.zeros(shape, dtype=bool)
    for r, c in rc:
        f[r, c] = True
    return f


def _blur(a, passes=3):
    """A cheap smoothing (repeated 5-point average, wrapping at the edges), no scipy needed."""
    a = np.asarray(a, dtype=float)
    for _ in range(passes):
        a = (a + np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1)) / 5
    return a


def _blurred_noise(rng, shape, passes=3):
    """A smooth non-negative map with minimum exactly 0."""
    a = _blur(rng.random(shape), passes)
    return a - a.min()


# ----------------------------------------------------------------------------- fixation_map

def test_fixation_map_rounds_to_nearest_pixel_half_up_and_counts_repeats_once():
    pts = np.array([[0.0, 0.0], [2.4, 1.6], [2.5, 0.49], [2.6, 1.5], [-0.4, 2.2]])
    # (x, y) -> (row, col): (0,0)->(0,0); (2.4,1.6)->(2,2); (2.5,0.49)->(0,3) (half up);
    # (2.6,1.5)->(2,3) (half up); (-0.4,2.2)->(2,0). 0-based, nearest pixel centre.
    f = M.fixation_map(pts, (3, 4))
    assert f.dtype == bool and f.shape == (3, 4)
    assert sorted(zip(*np.nonzero(f))) == [(0, 0), (0, 3), (2, 0), (2, 2), (2, 3)]
    # The same point twice marks one pixel.
    assert M.fixation_map(np.array([[1.0, 1.0], [1.2, 0.9]]), (3, 3)).sum() == 1


def test_fixation_map_out_of_frame_raises_with_count_and_example():
    pts = np.array([[1.0, 1.0], [3.6, 0.0], [0.0, -0.6]])  # x=3.6 -> col 4 of 4; y -> row -1
    with pytest.raises(ValueError, match=r"2 of 3 points.*3x4.*x=3\.6"):
        M.fixation_map(pts, (3, 4))


@pytest.mark.parametrize("pts", [np.zeros((0, 2)), np.array([[np.nan, 1.0]]), np.zeros((3, 3))])
def test_fixation_map_rejects_empty_nonfinite_and_bad_shape(pts):
    with pytest.raises(ValueError, match="fixation_map"):
        M.fixation_map(pts, (3, 3))


# ----------------------------------------------------------------------------- AUC-Judd

def test_auc_judd_hand_computed():
    # Fixated: 0.9 and 0.5. Negatives: 0.1 0.2 0.3 0.4 0.6 0.7 0.8 (7 pixels).
    # threshold 0.9: tp 1/2, fp (1 - 1)/7 = 0
    # threshold 0.5: tp 2/2, fp (#>=0.5 = 5, minus 2 fixated)/7 = 3/7
    # curve (0,0) (0,1/2) (3/7,1) (1,1): area 3/7 * (1/2 + 1)/2 + 4/7 * 1 = 9/28 + 16/28 = 25/28
    # (The plain Mann-Whitney AUC would be (7 + 4)/14 = 22/28: Judd interpolates linearly.)
    assert M.auc_judd(RAMP, _fix((3, 3), (2, 2), (1, 1))) == pytest.approx(25 / 28, abs=1e-12)


def test_auc_judd_ties_form_one_threshold():
    # sal [[1,1],[1,0]], fixated (0,0): one threshold 1 -> tp 1, fp (3 - 1)/3 = 2/3.
    # curve (0,0) (2/3,1) (1,1): area 2/3 * 1/2 + 1/3 = 2/3.
    sal = np.array([[1.0, 1.0], [1.0, 0.0]])
    assert M.auc_judd(sal, _fix((2, 2), (0, 0))) == pytest.approx(2 / 3, abs=1e-12)


def test_auc_judd_equals_the_mit_loop_without_jitter():
    rng = np.random.default_rng(1)
    for _ in range(5):
        sal = rng.random((17, 23))
        fix = rng.random((17, 23)) < 0.05
        # MIT AUC_Judd.m with jitter=0, written out literally.
        S, F = sal.ravel(), fix.ravel()
        Sth = np.sort(S[F])[::-1]
        n, N = Sth.size, S.size
        tp, fp = [0.0], [0.0]
        for i, t in enumerate(Sth, start=1):
            tp.append(i / n)
            fp.append(((S >= t).sum() - i) / (N - n))
        tp.append(1.0)
        fp.append(1.0)
        mit = sum((fp[j + 1] - fp[j]) * (tp[j + 1] + tp[j]) / 2 for j in range(len(tp) - 1))
        assert M.auc_judd(sal, fix) == pytest.approx(mit, abs=1e-12)


def test_auc_judd_perfect_inverted_constant():
    rng = np.random.default_rng(0)
    sal = rng.random((20, 20))
    fix = rng.random((20, 20)) < 0.05
    n = fix.sum()
    perfect = sal + 10 * fix
    assert M.auc_judd(perfect, fix) == 1.0
    # Inverted: every fixated value is below every other; the first threshold already has
    # fp = 1 at tp = 1/n, so the area is the triangle 1/(2n).
    assert M.auc_judd(-perfect, fix) == pytest.approx(0.5 / n)
    assert M.auc_judd(np.full((20, 20), 3.0), fix) == 0.5
    assert 0.35 < M.auc_judd(sal, fix) < 0.65


# ----------------------------------------------------------------------------- AUC-Borji / sAUC

def test_auc_borji_hand_computed_expectation():
    # sal [[1,0],[0,0]], fixated (0,0). Each split draws one pixel uniformly:
    #   a 0-pixel (prob 3/4): at threshold 1 tp = 1, fp = 0 -> area 1
    #   the fixated pixel (prob 1/4): at threshold 1 tp = fp = 1 -> area 1/2
    # so the score is 1 - (hits / n_splits) / 2, expectation 1 - 1/8 = 0.875.
    sal = np.array([[1.0, 0.0], [0.0, 0.0]])
    fix = _fix((2, 2), (0, 0))
    s = M.auc_borji(sal, fix)
    hits = (1 - s) * 2 * 100
    assert hits == pytest.approx(round(hits), abs=1e-9) and 10 <= round(hits) <= 40
    assert M.auc_borji(sal, fix, n_splits=20000, seed=3) == pytest.approx(0.875, abs=0.01)
    assert M.auc_borji(sal, fix, seed=5) == M.auc_borji(sal, fix, seed=5)  # seeded


def test_auc_shuffled_hand_computed_step_grid():
    # 1x4 map [0, 0.52, 0.55, 1.0]; fixated 0.55 and 1.0; other images' fixations on 0 and
    # 0.52. With as many other fixations as fixations every split uses all of them.
    # threshold >= 0.6: tp 1/2 fp 0; 0.5 ... 0.1: tp 1 fp 1/2; 0: tp 1 fp 1.
    # area: (0,1/2)->(1/2,1): 1/2 * 3/4 = 0.375, then (1/2,1)->(1,1): 0.5 -> 0.875.
    # (0.55 beats 0.52 at full resolution, AUC 1; the 0.1 step grid counts them as a tie.)
    sal = np.array([[0.0, 0.52, 0.55, 1.0]])
    fix = _fix((1, 4), (0, 2), (0, 3))
    other = _fix((1, 4), (0, 0), (0, 1))
    assert M.auc_shuffled(sal, fix, other) == pytest.approx(0.875, abs=1e-12)
    # A finer grid separates them: thresholds 0.53..0.55 have tp 1, fp 0 -> area 1.
    assert M.auc_shuffled(sal, fix, other, step=0.01) == pytest.approx(1.0, abs=1e-12)
    # Fewer other fixations (only 0.52) than fixations: all of them are used in every split.
    # threshold >= 0.6: tp 1/2 fp 0; 0.5 ... 0: tp 1 fp 1 -> area 1 * (1/2 + 1)/2 = 0.75.
    assert M.auc_shuffled(sal, fix, _fix((1, 4), (0, 1))) == pytest.approx(0.75, abs=1e-12)


def test_sampled_auc_equals_the_mit_loop():
    # The vectorised fixed-step ROC against AUC_Borji.m's loop, written out literally with
    # MIT's per-split grid fliplr(0:step:max([Sth; curfix])).
    rng = np.random.default_rng(2)
    pos = rng.random(30)
    neg = rng.random((7, 25)) * 0.8
    for step in (0.1, 0.05, 0.3):
        aucs = []
        for cur in neg:
            top = max(pos.max(), cur.max())
            grid = [round(k * step, 12) for k in range(int(top / step + 1e-9) + 1)][::-1]
            tp = [0.0] + [(pos >= t).mean() for t in grid] + [1.0]
            fp = [0.0] + [(cur >= t).mean() for t in grid] + [1.0]
            aucs.append(sum((fp[j + 1] - fp[j]) * (tp[j + 1] + tp[j]) / 2
                            for j in range(len(tp) - 1)))
        assert M._auc_sampled(pos, neg, step) == pytest.approx(np.mean(aucs), abs=1e-12)


def test_sampled_aucs_perfect_and_constant():
    rng = np.random.default_rng(0)
    fix = rng.random((30, 30)) < 0.03
    other = rng.random((30, 30)) < 0.05
    perfect = fix.astype(float)
    assert M.auc_borji(perfect, fix) > 0.95
    assert M.auc_borji(-perfect, fix) < 0.5
    assert M.auc_shuffled(perfect, fix, other & ~fix) == 1.0
    const = np.ones((30, 30))
    assert M.auc_borji(const, fix) == 0.5
    assert M.auc_shuffled(const, fix, other) == 0.5


# ----------------------------------------------------------------------------- NSS, CC

def test_nss_hand_computed_ddof1():
    sal = np.array([[1.0, 2.0], [3.0, 4.0]])
    # mean 2.5; sample var ((1.5^2 + 0.5^2) * 2) / 3 = 5/3; at 4: 1.5 / sqrt(5/3) = 1.161895
    assert M.nss(sal, _fix((2, 2), (1, 1))) == pytest.approx(1.5 / math.sqrt(5 / 3), rel=1e-12)
    assert M.nss(sal, _fix((2, 2), (1, 1))) == pytest.approx(1.161895, abs=1e-6)
    # fixations on 4 and 1: (1.5 - 1.5) / 2 / std = 0
    assert M.nss(sal, _fix((2, 2), (1, 1), (0, 0))) == pytest.approx(0.0, abs=1e-12)
    # a count map (2 fixations on one pixel) counts that pixel once, as MIT's logical()
    counts = np.array([[1, 0], [0, 2]])
    assert M.nss(sal, counts) == pytest.approx(0.0, abs=1e-12)


def test_nss_affine_invariance_and_sign():
    rng = np.random.default_rng(0)
    sal = rng.random((15, 12))
    fix = rng.random((15, 12)) < 0.1
    v = M.nss(sal, fix)
    assert M.nss(3.5 * sal + 7.0, fix) == pytest.approx(v, rel=1e-10)
    assert M.nss(-2.0 * sal, fix) == pytest.approx(-v, rel=1e-10)


def test_cc_hand_computed_and_properties():
    sal = np.array([[1.0, 2.0], [3.0, 4.0]])
    dens = np.array([[0.0, 1.0], [0.0, 1.0]])
    # a = [-1.5,-.5,.5,1.5], b = [-.5,.5,-.5,.5]: sum ab = 1, sum a^2 = 5, sum b^2 = 1
    assert M.cc(sal, dens) == pytest.approx(1 / math.sqrt(5), rel=1e-12)
    rng = np.random.default_rng(0)
    d = _blurred_noise(rng, (20, 20))
    assert M.cc(d, d) == pytest.approx(1.0, abs=1e-12)
    assert M.cc(2 * d + 1, d) == pytest.approx(1.0, abs=1e-12)
    assert M.cc(-d, d) == pytest.approx(-1.0, abs=1e-12)


# ----------------------------------------------------------------------------- KLD, SIM, IG

def test_kld_hand_computed():
    sal = np.array([[1.0, 3.0], [0.0, 0.0]])  # -> [.25, .75, 0, 0]
    dens = np.array([[1.0, 1.0], [0.0, 0.0]])  # -> [.5, .5, 0, 0]
    # .5 ln(.5/.25) + .5 ln(.5/.75) = .5 ln(4/3) = 0.1438410
    assert M.kld(sal, dens) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-12)
    # A pixel with density but zero saliency costs .5 ln(eps + .5/eps): large but finite.
    sal0 = np.array([[1.0, 0.0], [0.0, 0.0]])
    eps = 2.2204e-16
    want = 0.5 * math.log(eps + 0.5 / (1 + eps)) + 0.5 * math.log(eps + 0.5 / eps)
    assert M.kld(sal0, dens) == pytest.approx(want, rel=1e-12)
    # A constant map is uniform: KLD = ln 4 - H(d) = ln 4 - ln 2 = ln 2.
    assert M.kld(np.full((2, 2), 7.0), dens) == pytest.approx(math.log(2), rel=1e-12)
    assert M.kld(np.zeros((2, 2)), dens) == pytest.approx(math.log(2), rel=1e-12)


def test_sim_hand_computed():
    # sal [[2,4],[1,1]] -> rescaled (x-1)/3 = [1/3, 1, 0, 0] -> /(4/3) = [.25, .75, 0, 0]
    # dens [[1,1],[0,0]] -> [.5, .5, 0, 0]; sum of minima .25 + .5 = .75
    sal = np.array([[2.0, 4.0], [1.0, 1.0]])
    dens = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert M.sim(sal, dens) == pytest.approx(0.75, rel=1e-12)
    # constant map = uniform [.25]*4: minima .25 + .25 + 0 + 0 = .5
    assert M.sim(np.full((2, 2), 3.0), dens) == pytest.approx(0.5, rel=1e-12)


def test_kld_sim_identical_maps():
    d = _blurred_noise(np.random.default_rng(0), (25, 30))
    assert M.kld(d, d) == pytest.approx(0.0, abs=1e-12)
    assert M.sim(d, d) == pytest.approx(1.0, abs=1e-12)
    assert M.sim(3 * d + 2, d) == pytest.approx(1.0, abs=1e-12)  # rescaled to [0, 1] first
    other = _blurred_noise(np.random.default_rng(1), (25, 30))
    assert M.kld(other, d) > 0.0 and M.sim(other, d) < 1.0


def test_information_gain_hand_computed():
    sal = np.array([[1.0, 3.0], [0.0, 0.0]])  # -> [.25, .75, 0, 0]
    base = np.array([[2.0, 2.0], [1.0, 3.0]])  # (x-1)/2 = [.5,.5,0,1] -> [.25,.25,0,.5]
    # fixation at (0,1): log2(.75/.25) = log2 3 = 1.5849625
    assert M.information_gain(sal, _fix((2, 2), (0, 1)), base) == \
        pytest.approx(math.log2(3), rel=1e-12)
    # fixations at (0,0) and (0,1): (log2 1 + log2 3) / 2 = 0.7924813
    assert M.information_gain(sal, _fix((2, 2), (0, 0), (0, 1)), base) == \
        pytest.approx(math.log2(3) / 2, rel=1e-12)


def test_information_gain_of_baseline_is_zero():
    rng = np.random.default_rng(0)
    base = _blurred_noise(rng, (20, 20))
    fix = rng.random((20, 20)) < 0.1
    assert M.information_gain(base, fix, base) == 0.0
    assert M.information_gain(np.ones((20, 20)), fix, np.full((20, 20), 5.0)) == 0.0


# ----------------------------------------------------------------------------- errors

def test_constant_map_raises_for_nss_and_cc():
    fix = _fix((3, 3), (1, 1))
    with pytest.raises(ValueError, match="nss: saliency map is constant"):
        M.nss(np.full((3, 3), 0.1), fix)
    with pytest.raises(ValueError, match="cc: saliency map is constant"):
        M.cc(np.zeros((3, 3)), RAMP)
    with pytest.raises(ValueError, match="cc: density is constant"):
        M.cc(RAMP, np.ones((3, 3)))
    with pytest.raises(ValueError, match="nss: saliency map is constant"):
        M.all_metrics(np.ones((3, 3)), fix, RAMP)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_maps_raise(bad):
    fix = _fix((3, 3), (1, 1))
    sal = RAMP.copy()
    sal[0, 0] = bad
    for fn, args in [(M.auc_judd, (sal, fix)), (M.auc_borji, (sal, fix)),
                     (M.auc_shuffled, (sal, fix, fix)), (M.nss, (sal, fix)),
                     (M.cc, (sal, RAMP)), (M.kld, (sal, RAMP)), (M.sim, (sal, RAMP)),
                     (M.information_gain, (sal, fix, RAMP)), (M.cc, (RAMP, sal)),
                     (M.information_gain, (RAMP, fix, sal))]:
        with pytest.raises(ValueError, match="NaN or inf"):
            fn(*args)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"nss: .*\(3, 3\).*\(2, 2\)"):
        M.nss(RAMP, _fix((2, 2), (0, 0)))
    with pytest.raises(ValueError, match=r"kld: .*\(3, 3\).*\(3, 4\)"):
        M.kld(RAMP, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"information_gain: .*\(3, 3\).*\(4, 4\)"):
        M.information_gain(RAMP, _fix((3, 3), (0, 0)), np.ones((4, 4)))
    with pytest.raises(ValueError, match="2-D"):
        M.auc_judd(RAMP.ravel(), _fix((3, 3), (0, 0)).ravel())


def test_empty_and_degenerate_ground_truth_raise():
    empty = np.zeros((3, 3), dtype=bool)
    for fn, args in [(M.auc_judd, (RAMP, empty)), (M.auc_borji, (RAMP, empty)),
                     (M.nss, (RAMP, empty)), (M.information_gain, (RAMP, empty, RAMP)),
                     (M.auc_shuffled, (RAMP, _fix((3, 3), (0, 0)), empty))]:
        with pytest.raises(ValueError, match="empty"):
            fn(*args)
    with pytest.raises(ValueError, match="every pixel is fixated"):
        M.auc_judd(RAMP, np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="density sums to 0"):
        M.sim(RAMP, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="density has negative"):
        M.kld(RAMP, RAMP - 0.5)
    with pytest.raises(ValueError, match="kld: saliency map has negative"):
        M.kld(RAMP - 0.5, RAMP)


# ----------------------------------------------------------------------------- all_metrics

def test_all_metrics_keys_and_values():
    rng = np.random.default_rng(0)
    fix = rng.random((20, 20)) < 0.05
    sal = _blurred_noise(rng, (20, 20))
    dens = _blurred_noise(rng, (20, 20))
    base = _blurred_noise(rng, (20, 20))
    other = rng.random((20, 20)) < 0.1
    r = M.all_metrics(sal, fix, dens)
    assert set(r) == {"auc_judd", "auc_borji", "nss", "cc", "kld", "sim"}
    assert r["nss"] == M.nss(sal, fix) and r["kld"] == M.kld(sal, dens)
    r = M.all_metrics(sal, fix, dens, other_fix=other, baseline=base)
    assert set(r) == {"auc_judd", "auc_borji", "nss", "cc", "kld", "sim", "sauc", "ig"}
    assert r["sauc"] == M.auc_shuffled(sal, fix, other)
    assert r["ig"] == M.information_gain(sal, fix, base)
    assert all(isinstance(v, float) and math.isfinite(v) for v in r.values())


# ----------------------------------------------------------------------------- pysaliency

def test_agrees_with_pysaliency():
    ps_metrics = pytest.importorskip(
        "pysaliency.metrics",
        reason="pysaliency is a dev-only cross-check: pip install pysaliency "
               "(needs numpy<2.4, setuptools<81)")
    from pysaliency.roc import general_roc

    rng = np.random.default_rng(7)
    shape = (40, 50)
    fix = rng.random(shape) < 0.04
    # Maps that predict the fixations in part, so the scores are far from chance; both with
    # min exactly 0, because pysaliency's SIM only shifts negative maps (no [0, 1] rescale).
    sal = _blurred_noise(rng, shape) + _blur(fix, 2)
    sal -= sal.min()
    dens = _blur(fix, 4) + 0.2 * _blurred_noise(rng, shape)
    dens -= dens.min()
    ys, xs = np.nonzero(fix)
    n = sal.size
    # AUC-Judd: pysaliency's judd=1 ROC on unfixated negatives, as its AUC_Judd(jitter=False).
    ps_auc = general_roc(sal[fix], sal[~fix], judd=1)[0]
    assert M.auc_judd(sal, fix) == pytest.approx(ps_auc, abs=1e-12)
    coarse = np.round(sal / sal.max() * 5)  # 6 levels: many ties, handled alike by both
    ps_auc = general_roc(coarse[fix], coarse[~fix], judd=1)[0]
    assert M.auc_judd(coarse, fix) == pytest.approx(ps_auc, abs=1e-12)
    # NSS: pysaliency divides by the ddof=0 std, so it is larger by sqrt(N / (N - 1)).
    ps_nss = ps_metrics.NSS(sal, xs, ys).mean()
    assert M.nss(sal, fix) == pytest.approx(ps_nss * math.sqrt((n - 1) / n), rel=1e-12)
    assert M.cc(sal, dens) == pytest.approx(ps_metrics.CC(sal, dens), rel=1e-12)
    assert M.kld(sal, dens) == pytest.approx(ps_metrics.MIT_KLDiv(sal, dens), rel=1e-12)
    assert M.sim(sal, dens) == pytest.approx(ps_metrics.SIM(sal, dens), rel=1e-12)


# ----------------------------------------------------------------------------- real data

def _nus_points(cells, observers):
    """NUS cells hold [y, x, t, dur] in a continuous [0, W] x [0, H] frame (see the test)."""
    a = np.concatenate([cells[j][:, :2] for j in observers if cells[j].size])
    return np.stack([a[:, 1], a[:, 0]], axis=1) - 0.5  # (x, y), pixel-centre coordinates


def test_nus_scene_half_observers_beat_noise(shared_data):
    from PIL import Image
    from scipy.io import loadmat
    from scipy.ndimage import gaussian_filter

    root = shared_data / "saliency" / "nus_scene" / "data"
    fixations = loadmat(str(root / "tidy" / "fixations.mat"))["fixations"]
    assert fixations.shape == (500, 12)
    # Columns are (y, x) in a continuous [0, H] x [0, W] frame, so pixel = floor(value):
    # over the whole set some values are < 0.5 (outside the frame if they were 1-based pixel
    # indices) and some are > size - 0.5 (outside if they were 0-based pixel centres), and
    # none is negative or beyond the size.
    below_half = above_last_centre = 0
    for i in range(fixations.shape[0]):
        wi, hi = Image.open(root / "stimuli" / f"{i + 1:03d}.jpg").size
        yx = np.concatenate([c[:, :2] for c in fixations[i] if c.size])
        assert (yx >= 0).all() and (yx[:, 0] <= hi).all() and (yx[:, 1] <= wi).all(), i
        below_half += int((yx < 0.5).any(axis=1).sum())
        above_last_centre += int(((yx[:, 0] > hi - 0.5) | (yx[:, 1] > wi - 0.5)).sum())
    assert below_half > 0 and above_last_centre > 0

    w, h = Image.open(root / "stimuli" / "001.jpg").size
    cells = fixations[0]
    fix_a = M.fixation_map(_nus_points(cells, range(0, 12, 2)), (h, w))
    fix_b = M.fixation_map(_nus_points(cells, range(1, 12, 2)), (h, w))
    assert fix_a.sum() > 20 and fix_b.sum() > 20
    humans = gaussian_filter(fix_a.astype(float), sigma=8)
    noise = np.random.default_rng(0).random((h, w))
    density = gaussian_filter(fix_b.astype(float), sigma=8)

    got = M.all_metrics(humans, fix_b, density)
    ref = M.all_metrics(noise, fix_b, density)
    assert got["nss"] > ref["nss"] + 1.0 and got["nss"] > 1.0
    assert got["auc_judd"] > ref["auc_judd"] + 0.2 and got["auc_judd"] > 0.8
    assert abs(ref["auc_judd"] - 0.5) < 0.1 and abs(ref["nss"]) < 0.5
    assert got["cc"] > ref["cc"] + 0.3 and got["sim"] > ref["sim"]
    assert got["kld"] < ref["kld"]
