"""Motion: a streak along a direction reads as directional blur in that direction, and is stated as
camera shake; a Gaussian defocus of the same strength does not; untouched photos stay quiet."""

import random

import numpy as np
import pytest
from measured_photos import measured

from asemllm.critic.measures import motion as M

# Real photos (NUS validation scenes, the mate backgrounds, scikit-image's): none of them streaked.
PHOTOS = ["nus-406", "nus-436", "nus-466", "mate-GreenMeadow", "mate-TwoWings", "skimage-astronaut"]


@pytest.fixture(scope="module")
def photos(open_check_photo):
    return {n: open_check_photo(n) for n in PHOTOS}


def _gap(a, b):
    d = abs(a - b) % 180
    return min(d, 180 - d)


def test_a_streak_reads_in_its_direction_and_is_called_camera_shake(photos):
    from asemllm.critic.teacher import critique, recognise

    rng = random.Random(0)
    for name, image in photos.items():
        _, before = measured(image)
        angle = rng.uniform(0, 180)
        attrs, after = measured(M.motion_blur(image, M.streak_length(image), angle))
        assert after["motion_blur"] >= M.STREAKED and after["motion_blur"] - before["motion_blur"] >= 4, name
        assert _gap(after["motion_direction"], angle) <= 20, (name, angle, after["motion_direction"])
        said = critique(attrs, "use_of_camera", random.Random(1))
        shake = [c for c in said.claims if c.rule == "motion.shake"]
        assert shake and recognise(shake[0].statement) == ["motion.shake"], (name, said.text)


@pytest.mark.parametrize("angle, expected", [(0.0, 0.0), (90.0, 90.0), (45.0, 45.0), (135.0, 135.0)])
def test_the_direction_follows_the_display_convention(photos, angle, expected):
    image = photos["mate-GreenMeadow"]
    _, after = measured(M.motion_blur(image, 20, angle))
    assert _gap(after["motion_direction"], expected) <= 10, after["motion_direction"]


def test_defocus_of_the_same_strength_is_soft_but_not_motion(photos):
    for name, image in photos.items():
        _, before = measured(image)
        _, after = measured(M.defocus(image, M.streak_length(image) / 12 ** 0.5))
        assert after["sharpness"] < 0.5 * before["sharpness"], name  # the blur is real
        assert not M.RULES[0].holds(after), (name, after["motion_blur"], after["cross_detail"])


def test_untouched_photos_are_steady(photos):
    for name, image in photos.items():
        _, v = measured(image)
        assert v["motion_blur"] < M.STEADY, (name, v["motion_blur"])
        assert not [r.id for r in M.RULES if r.problem and r.holds(v)], name


def test_the_line_kernel_is_a_normalised_line():
    k = M.line_kernel(15, 0)
    assert abs(k.sum() - 1) < 1e-6
    mid = k.shape[0] // 2
    assert k[mid].sum() > 0.95  # a horizontal line lies on the middle row
    v = M.line_kernel(15, 90)
    assert v[:, mid].sum() > 0.95
