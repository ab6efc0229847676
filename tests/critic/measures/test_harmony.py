"""Colour harmony: hues pulled into one sector fit the analogous template; hues scattered round the
wheel fit none; a small patch of a far hue reads as a colour accent; a grey photo is not judged."""

import numpy as np
import pytest
from measured_photos import measured, states

from asemllm.critic.measures import harmony as H

PHOTOS = ["nus-411", "nus-441", "nus-461", "mate-Garden", "mate-YellowFlower", "skimage-coffee"]


@pytest.fixture(scope="module")
def photos(open_check_photo):
    return {n: open_check_photo(n) for n in PHOTOS}


@pytest.fixture(scope="module")
def untouched(photos):
    return {n: measured(im)[1] for n, im in photos.items()}


def test_hues_pulled_into_one_sector_fit_the_analogous_template(photos, untouched):
    for name, image in photos.items():
        attrs, after = measured(H.pull_hues(image, 60.0))
        assert after["hue_fit_analogous"] < H.FITS, name
        assert after["hue_fit_analogous"] <= untouched[name]["hue_fit_analogous"], name
        assert states(attrs, "harmony.analogous"), name


def _best(v):
    return min(v[f"hue_fit_{t}"] for t in H.TEMPLATES)


def test_hues_scattered_round_the_wheel_fit_no_template(photos, untouched):
    for name, image in photos.items():
        attrs, after = measured(H.scatter_hues(image, 90.0))
        assert after["hue_fit_analogous"] - untouched[name]["hue_fit_analogous"] >= 15.0, name
        assert _best(after) - _best(untouched[name]) >= 5.0, name
        assert states(attrs, "harmony.clash") == (_best(after) >= H.CLASHES), name


def test_a_small_patch_of_a_far_hue_is_an_accent(photos, untouched):
    for name, image in photos.items():
        sal = np.zeros((image.height, image.width))
        sal[image.height // 3, image.width // 3] = 1.0  # the patch goes on a thirds point
        attrs, after = measured(H.accent_patch(image, sal, share=0.015), sal)
        gained = after["colour_accent"] - untouched[name]["colour_accent"]
        assert 0.5 <= gained <= 2.0, (name, gained)  # about the 1.5% painted
        accent = next(r for r in H.RULES if r.id == "harmony.accent")
        assert states(attrs, "harmony.accent") == accent.holds(after), name  # said exactly when it holds


def test_template_fits_on_synthetic_hue_sets():
    # 0/180 degrees: complementary, not analogous; 0/120/240: a triad
    pair = np.zeros(360); pair[[10, 190]] = 1
    assert H.fit(pair, H.TEMPLATES["complementary"])[0] == pytest.approx(0, abs=0.6)
    assert H.fit(pair, H.TEMPLATES["analogous"])[0] > 40
    triad = np.zeros(360); triad[[0, 120, 240]] = 1
    assert H.fit(triad, H.TEMPLATES["triad"])[0] == pytest.approx(0, abs=0.6)
    assert H.fit(triad, H.TEMPLATES["complementary"])[0] > 20


def test_a_grey_photo_has_no_hue_harmony():
    from skimage import data

    cam = np.repeat(data.camera()[..., None], 3, axis=2)
    from PIL import Image

    _, v = measured(Image.fromarray(cam))
    assert not [k for k in v if k.startswith("hue_fit_") or k == "colour_accent"]
