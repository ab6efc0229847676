"""Framing measurements on real photos: each controlled edit moves its value the right way, the
teacher states the claim, and untouched photos stay quiet where they should."""

import random

import numpy as np
import pytest

from asemllm.critic.measures import framing as F

NUS = ("401", "421", "436", "449", "461", "485")


@pytest.fixture(scope="module")
def photos(shared_data):
    """A few NUS validation scenes and the scikit-image coffee cup, with their saliency maps."""
    from skimage import data

    from asemllm.critic.attributes import _iasm
    from asemllm.images import load_image
    from asemllm.saliency.predict import predict_maps

    folder = shared_data / "saliency" / "nus_scene" / "data" / "stimuli"
    images = [load_image(str(folder / f"{n}.jpg")) for n in NUS] + [load_image(data.coffee())]
    maps = predict_maps(_iasm(), images, [(im.height, im.width) for im in images])
    return list(zip(images, maps))


def _values(image, saliency=None) -> dict:
    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import values

    return values(measure(image, saliency=saliency))


def _holds(rule_id, v) -> bool:
    from asemllm.critic.teacher import RULES_BY_ID

    return RULES_BY_ID[rule_id].holds(v)


def test_a_dark_doorway_reads_as_a_frame_within_the_frame(photos):
    read = 0
    for image, sal in photos:
        before = _values(image, sal)
        after = _values(F.dark_frame(image, 0.12, 3.0, "tlr"))
        assert before["frame_within"] < F.FRAMED and not _holds("framing.frame_within", before)
        # three sides 3 stops down with a hard edge: the weakest framed side jumps by over a stop
        # (less in a dark scene, whose near-black pixels sit at the log floor and cannot darken)
        read += after["frame_within"] >= before["frame_within"] + 1.0
        assert after["frame_within"] >= before["frame_within"] + 0.5, (before["frame_within"], after["frame_within"])
        assert _holds("framing.frame_within", after)
    assert read >= len(photos) - 1, read


def test_a_gradual_vignette_is_not_a_frame(photos):
    """A smooth darkening towards the edges (no hard inner edge) must not read as a doorway."""
    from PIL import Image

    from asemllm.critic.attributes import _linear
    from asemllm.critic.edits import to_srgb as _to_srgb

    image, sal = photos[-1]
    rgb = np.asarray(image, dtype=np.float32) / 255.0
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)) / np.sqrt(2)
    lin = _linear(rgb) * (2.0 ** (-2.0 * r ** 2))[..., None]  # 2 stops down in the corners, smoothly
    vignetted = Image.fromarray((np.clip(_to_srgb(lin), 0, 1) * 255 + 0.5).astype(np.uint8))
    assert _values(vignetted, sal)["frame_within"] < F.FRAMED


def test_a_wider_soft_surround_adds_negative_space(photos):
    for image, sal in photos:
        before, after = _values(image, sal), _values(F.loosen(image, 0.3))
        assert after["negative_space"] >= before["negative_space"] + 15.0
        assert _holds("framing.negative_space", after) or _holds("framing.loose", after)


def test_untouched_photos_are_not_called_cut_or_loose(photos):
    for image, sal in photos:
        v = _values(image, sal)
        assert not _holds("framing.cut", v) and not _holds("framing.loose", v), v
        assert 0.0 <= v["edge_cut"] <= 100.0 and 0.0 <= v["subject_margin"] <= 50.0


def test_tight_crop_shrinks_the_margin_it_keeps(photos):
    """The crop keeps the subject's extent; what it leaves around it is what the margin reads."""
    image, sal = photos[-1]
    before = _values(image, sal)
    after = _values(F.tight_crop(image, sal, 0.0))
    assert after["subject_margin"] < before["subject_margin"]


def test_the_teacher_says_it_in_the_composition(photos):
    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import critique

    image, sal = photos[0]
    attrs = measure(F.dark_frame(image, 0.12, 3.0, "tblr"))
    c = critique(attrs, "composition", random.Random(0))
    assert "framing.frame_within" in [x.rule for x in c.claims], c.text
