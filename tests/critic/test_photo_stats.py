"""The auxiliary head's photo statistics (asemllm.critic.photo_stats), on real photos and their edits."""

import numpy as np
import pytest
import torch
from PIL import Image

from asemllm.images import to_batch
from asemllm.critic import photo_stats as S
from asemllm.critic.claim_head import probabilities

SEA = "lomiri_20.04/Infinite-Sea_by_Aury88.jpg"  # a sea horizon across the frame


def _photo(shared_data, name, side=512):
    im = Image.open(shared_data / "photos" / name).convert("RGB")
    im.thumbnail((side, side))
    return im


def _part(stats, name):
    """The slice of the vector one group fills, by the order photo_stats concatenates them."""
    start = 0
    for key, size in S.GROUPS.items():
        if key == name:
            return stats[:, start:start + size]
        start += size
    raise KeyError(name)


def test_the_padding_is_not_the_photo(shared_data):
    im = _photo(shared_data, SEA)  # landscape: grey bands above and below in the square
    w, h = im.size
    mask = S.content_mask(to_batch([im], 224))[0]
    rows = mask.amax(1).sum().item()
    assert mask.amax(0).sum().item() == 224
    assert abs(rows - 224 * h / w) <= 2, (rows, 224 * h / w)
    square = Image.new("RGB", (300, 300), (124, 116, 104))  # a grey photo is still a photo if it fills
    assert S.content_mask(to_batch([square], 224)).sum() == 0  # ... but a fill-only frame has no content


def test_the_vector_has_its_documented_size_and_is_finite(shared_data):
    x = to_batch([_photo(shared_data, p) for p in ("mate/Storm.jpg", "misc/face.png")], 224)
    s = S.photo_stats(x)
    assert s.shape == (2, S.STATS_DIM) and torch.isfinite(s).all()
    black = S.photo_stats(torch.zeros(1, 3, 64, 64))
    assert torch.isfinite(black).all()


@pytest.mark.parametrize("degrees", [5.0, -5.0, 2.0])
def test_rotating_a_horizon_moves_the_line_angle(shared_data, degrees):
    from asemllm.critic.dataset import rotate

    im = _photo(shared_data, SEA)
    lines = _part(S.photo_stats(to_batch([im, rotate(im, degrees)], 224)), "lines")
    energy, cover = lines[:, :4], lines[:, 4:]  # each: angle / 10, |angle| / 10, peak, level / peak
    for angle in (energy[:, 0] * 10, cover[:, 0] * 10):
        assert abs(angle[0]) <= 0.5 and abs(angle[1] - degrees) <= 1.0, angle  # + = counter-clockwise
    assert cover[0, 2] > 0.8 and cover[1, 2] > 0.8  # the horizon spans the frame
    assert cover[0, 3] == 1 and cover[1, 3] < 0.7  # the level line is the widest only when level


def test_a_photo_without_a_horizon_has_no_wide_line(shared_data):
    dune = _photo(shared_data, "mate/Dune.jpg")  # curved ridges, no straight line across
    sea = _photo(shared_data, SEA)
    cover = _part(S.photo_stats(to_batch([dune, sea], 224)), "lines")[:, 6]
    assert cover[0] < 0.5 < cover[1], cover


def test_brightening_shows_in_the_clipping_shares(shared_data):
    im = np.asarray(_photo(shared_data, "mate/Storm.jpg"), dtype=np.float32)
    bright = Image.fromarray((im * 4).clip(0, 255).astype(np.uint8))
    tones = _part(S.photo_stats(to_batch([Image.fromarray(im.astype(np.uint8)), bright], 224)), "tones")
    clipped = tones[:, S.LUMA_BINS] ** 2  # share with a channel >= 0.98
    assert clipped[1] > clipped[0] + 0.2, clipped
    assert tones[1, S.LUMA_BINS - 1] > tones[0, S.LUMA_BINS - 1]  # the top luma bin fills


def test_geometry_reads_the_density_in_the_photos_own_frame(shared_data):
    im = _photo(shared_data, SEA)
    x = to_batch([im], 224)
    mask = S.content_mask(x)[0]
    rows = torch.nonzero(mask.amax(1))[:, 0]
    top, h = rows.min().item(), len(rows)
    density = torch.zeros(1, 1, 224, 224)
    y, xx = top + round(h / 3), round(224 * 2 / 3)
    density[0, 0, y - 1:y + 2, xx - 1:xx + 2] = 1.0  # a spot on the upper-right thirds point
    g = _part(S.photo_stats(x, density / density.sum()), "geometry")[0]
    cx, cy, thirds, centre, entropy, balance = g[0], g[1], g[11] / 5, g[10] / 5, g[13], g[14]
    assert abs(cx - 2 / 3) < 0.02 and abs(cy - 1 / 3) < 0.02, (cx, cy)
    assert thirds < 0.02 and centre > 0.15 and entropy < 0.3 and balance > 0.9
    uniform = _part(S.photo_stats(x), "geometry")[0]  # no saliency: the mass is everywhere
    assert abs(uniform[0] - 0.5) < 0.01 and abs(uniform[1] - 0.5) < 0.01 and uniform[13] > 0.99


def test_a_head_with_stats_reads_them(two_photos):
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    cfg = tiny_config()
    cfg.aux_targets, cfg.aux_hidden, cfg.aux_stats = 3, 8, True
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    images, _ = two_photos
    x = model.head.inputs(model.see(images))
    assert x.shape == (2, model.head.token_width + S.STATS_DIM)
    square = model.see(images).pixels
    assert torch.allclose(x[:, -S.STATS_DIM:], S.photo_stats(square, model.iasm(square).log_density.exp()))
    cfg.saliency = "none"  # the no-saliency ablation: uniform geometry
    g = model.head.inputs(model.see(images))[:, -S.GROUPS["geometry"]:]
    assert torch.allclose(g[:, 13], torch.ones(2), atol=1e-4)
    probs = probabilities(model, images)
    assert probs.shape == (2, 3) and ((probs > 0) & (probs < 1)).all()


def test_geometry_equals_the_measured_composition_of_the_same_map(shared_data):
    """The head reads the saliency geometry the critique's composition claims are measured from:
    on the same IASM map, the numbers agree (so those claims test the learned thresholds)."""
    from asemllm.critic.attributes import composition, subject_mask
    from asemllm.images import unsquare
    from asemllm.saliency.predict import load_iasm

    photo = _photo(shared_data, "mate/LadyBird.jpg")
    x = to_batch([photo], 224)
    with torch.no_grad():
        density = load_iasm()(x).log_density.exp()  # (1, 1, 224, 224) over the padded square
    stats = S.photo_stats(x, density)
    assert len(S.GEOMETRY) == S.GROUPS["geometry"]
    g = dict(zip(S.GEOMETRY, _part(stats, "geometry")[0].tolist()))
    sal = unsquare(density[0, 0].numpy(), (photo.height, photo.width))
    sal = sal / sal.sum()
    measured = {a.name: a.value for a in composition(sal, subject_mask(sal))}
    assert abs(g["centre"] / 5 - measured["centre_offset"]) < 0.01
    assert abs(g["thirds"] / 5 - measured["subject_position"]) < 0.01
    assert abs(g["balance"] - measured["balance"]) < 0.02
    assert abs(g["half"] ** 2 - measured["subject_size"]) < 0.02
    # the geometry branch's input (aux_geometry) is these four numbers
    assert stats[0, S.shape_columns()].tolist() == [g[name] for name in S.SHAPE]


def test_native_statistics_see_the_noise_the_model_copy_averages_away(shared_data):
    """Sensor-level noise on a 6,028 px photo: the native statistics report it; the 224 px copy the
    ViT and photo_stats read keeps under a level of it (why the head needs them)."""
    from asemllm.critic.dataset import add_noise
    from asemllm.critic.native import native_stats, noise_sigma

    import random

    photo = Image.open(shared_data / "photos" / SEA).convert("RGB")
    rgb = np.asarray(photo, dtype=np.float32) / 255
    noisy = Image.fromarray((add_noise(rgb, 8.0, random.Random(0)) * 255 + 0.5).astype(np.uint8))
    clean_sigma, noisy_sigma = noise_sigma(photo), noise_sigma(noisy)
    assert clean_sigma < 2.0 and 6.0 < noisy_sigma < 10.0, (clean_sigma, noisy_sigma)
    small = [im.resize((224, round(224 * im.height / im.width)), Image.BOX) for im in (photo, noisy)]
    assert abs(noise_sigma(small[1]) - noise_sigma(small[0])) < 1.0
    x = native_stats([photo, noisy])
    assert x.shape == (2, 2) and x[1, 0] - x[0, 0] > 1.0


def test_a_head_with_native_statistics_needs_the_photos(two_photos):
    from asemllm.models import build_model
    from asemllm.config import tiny_config
    from asemllm.critic.native import NATIVE_DIM, native_stats

    cfg = tiny_config()
    cfg.aux_targets, cfg.aux_hidden, cfg.aux_stats, cfg.aux_native = 3, 8, True, (1,)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    images, _ = two_photos
    x = model.head.inputs(model.see(images))
    assert x.shape == (2, model.head.token_width + S.STATS_DIM + NATIVE_DIM)
    assert torch.allclose(x[:, -NATIVE_DIM:], native_stats([im.convert("RGB") for im in images]))
    with pytest.raises(ValueError, match="native resolution.*not a resized tensor"):
        model.head.inputs(model.see(to_batch(images, cfg.vision.image_size)))
