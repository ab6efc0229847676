"""Light measurements on real photos: each controlled edit moves its value the right way by about
the right amount and the teacher then states the claim; untouched photos stay quiet where they should.

The saliency map is predicted once per photo and passed to every measurement of its edited copies
(the edits change the light, not where the subject is), which keeps the file fast.
"""

import random
import time

import numpy as np
import pytest

from asemllm.critic.measures import light as L

# NUS validation scenes (varied: street, forest, field, stones, interiors, water) and two of
# scikit-image's photos; all small enough to measure quickly.
NUS = ("413", "425", "461", "473", "485", "497")
SKIMAGE = ("coffee", "astronaut")


@pytest.fixture(scope="module")
def photos(shared_data):
    """[(name, PIL photo, saliency at its size, values measured untouched)]."""
    from PIL import Image
    from skimage import data

    from asemllm.critic.attributes import _iasm
    from asemllm.images import load_image
    from asemllm.saliency.predict import predict_maps

    folder = shared_data / "saliency" / "nus_scene" / "data" / "stimuli"
    images = [(f"nus-{n}", load_image(folder / f"{n}.jpg")) for n in NUS]
    images += [(n, Image.fromarray(getattr(data, n)())) for n in SKIMAGE]
    out = []
    for name, im in images:
        im.thumbnail((512, 512), Image.BOX)
        (sal,) = predict_maps(_iasm(), [im], [(im.height, im.width)])
        out.append((name, im, sal, values(im, sal)))
    return out


def values(image, sal) -> dict:
    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import values as as_values

    return as_values(measure(image, saliency=sal))


def stated(v: dict, rule_id: str) -> bool:
    """Whether the teacher's colour-and-lighting critique of these values states the rule."""
    from asemllm.critic.teacher import critique

    c = critique(v, "color_lighting", random.Random(0))
    return rule_id in [x.rule for x in c.claims]


def edited(photos, edit):
    """[(name, before, after)] for `edit(photo, saliency)` on every photo."""
    return [(name, before, values(edit(im, sal), sal)) for name, im, sal, before in photos]


def test_every_attribute_is_measured_with_a_level(photos):
    from asemllm.critic.attributes import measure

    name, im, sal, _ = photos[0]
    found = measure(im, saliency=sal)
    for n in L.LEVELS:
        a = found[n]
        assert a.value is not None and np.isfinite(a.value), n
        assert a.level in {label for _, label in L.LEVELS[n]}, (n, a.level)


@pytest.mark.parametrize("angle, way, rule", [(180.0, -1, "light.from_left"), (0.0, 1, "light.from_right")])
def test_relight_from_one_side_reads_about_a_stop(photos, angle, way, rule):
    rows = edited(photos, lambda im, sal: L.relight(im, sal, 1.0, angle))
    for name, b, a in rows:
        moved = way * (a["light_side"] - b["light_side"])
        assert 0.6 <= moved <= 1.6, (name, b["light_side"], a["light_side"])  # a +-1 stop ramp: ~1 stop
    said = [name for name, _, a in rows if stated(a, rule)]
    assert len(said) >= len(rows) - 2, said  # photos lit hard from the other side may stay below


def test_relight_and_backlight_read_with_the_saliency_predicted_again(photos):
    """As in use: the edited photo's saliency is predicted anew (a relit subject draws the gaze to
    its lit side, a darkened one loses some of it to the surround), and the edit still reads."""
    def fresh(edit):
        return [(name, before, values(edit(im, sal), None)) for name, im, sal, before in photos]

    left = fresh(lambda im, sal: L.relight(im, sal, 1.0, 180.0))
    right = fresh(lambda im, sal: L.relight(im, sal, 1.0, 0.0))
    back = fresh(lambda im, sal: L.backlight_edit(im, sal, 2.0))
    n = len(photos)
    assert sum(a["light_side"] - b["light_side"] <= -0.6 for _, b, a in left) >= n - 1
    assert sum(a["light_side"] - b["light_side"] >= 0.6 for _, b, a in right) >= n - 1
    assert sum(a["light_backlight"] - b["light_backlight"] >= 1.0 for _, b, a in back) >= n - 1


def test_warm_light_reads_warm_where_its_red_clips():
    """A warm highlight clips its red channel first; it must still read as warm light, not be left
    out for a neutral grey."""
    from PIL import Image

    rgb = np.full((200, 300, 3), 110, dtype=np.uint8)
    rgb[:, 200:] = (255, 205, 140)  # sunlit, red clipped, blue far below it
    v = values(Image.fromarray(rgb), np.ones((200, 300)))
    assert v["light_warmth"] >= L.GOLDEN_WARMTH, v["light_warmth"]


def test_darkened_subject_reads_as_backlit(photos):
    rows = edited(photos, lambda im, sal: L.backlight_edit(im, sal, 2.0))
    for name, b, a in rows:
        # 2 stops on the subject, feathered over its edge and partly into the surround
        assert 1.0 <= a["light_backlight"] - b["light_backlight"] <= 2.2, name
        assert a["light_subject_tone"] < b["light_subject_tone"], name
    said = [n for n, _, a in rows if stated(a, "light.backlit") or stated(a, "light.silhouette")]
    assert len(said) >= len(rows) // 2, said


def test_softening_and_hardening_the_light(photos):
    soft = edited(photos, lambda im, sal: L.shadow_band(im, 0.8))
    hard = edited(photos, lambda im, sal: L.shadow_band(im, -1.0))
    for (name, b, s), (_, _, h) in zip(soft, hard):
        # 80% of the shadow band removed / the band doubled: about x0.3-0.6 and x1.5-2.2
        assert s["light_hardness"] <= 0.7 * b["light_hardness"], name
        assert h["light_hardness"] >= 1.35 * b["light_hardness"], name
        # the fine detail (sharpness) is left alone: the band starts above the scale of defocus
        assert 0.5 <= s["sharpness"] / b["sharpness"] <= 2.0, name
    # photos whose shadows run deep (a stop and more) keep some of them: not all read soft after
    assert sum(stated(s, "light.soft") for _, _, s in soft) >= len(soft) // 2
    assert sum(stated(h, "light.hard") for _, _, h in hard) >= len(hard) // 2


@pytest.mark.parametrize("gamma, rule", [(0.4, "light.high_key"), (2.5, "light.low_key")])
def test_tone_curve_shifts_the_key(photos, gamma, rule):
    rows = edited(photos, lambda im, sal: L.tone_key(im, gamma))
    for name, b, a in rows:
        moved = a["light_key"] - b["light_key"]
        assert (moved >= 0.25) if gamma < 1 else (moved <= -0.25), (name, b["light_key"], a["light_key"])
    assert sum(stated(a, rule) for _, _, a in rows) >= len(rows) // 2


def test_warm_low_light_reads_as_golden_hour(photos):
    # photos whose highlights are already deep orange have no room to warm (the check leaves them out)
    warm_check = next(c for c in L.CHECKS if c.name == "warm low side light")
    some = [p for p in photos if warm_check.applies(p[3])]
    assert len(some) >= len(photos) - 2
    rows = edited(some, lambda im, sal: L.warm_side_light(im, sal, 1.0, 0.6, 0.15, 180.0))
    for name, b, a in rows:
        assert a["light_warmth"] - b["light_warmth"] >= 0.25, name
        assert a["light_side"] - b["light_side"] <= -0.5, name  # the sun is on the left
    assert sum(stated(a, "light.golden_hour") for _, _, a in rows) >= len(rows) // 2


def test_dusk_reads_as_blue_hour(photos):
    rows = edited(photos, lambda im, sal: L.dusk(im))
    for name, b, a in rows:
        assert a["colour_temperature"] > b["colour_temperature"] and a["brightness"] < b["brightness"], name
    assert sum(stated(a, "light.blue_hour") for _, _, a in rows) >= len(rows) // 2


def test_flare_lifts_the_blacks_and_is_called_a_fault(photos):
    from asemllm.critic.teacher import RULES_BY_ID

    rows = edited(photos, lambda im, sal: L.flare(im, 0.3, 0.05))
    for name, b, a in rows:
        assert a["light_flare"] - b["light_flare"] >= 0.1, name
    said = [n for n, _, a in rows if stated(a, "light.flare")]
    assert len(said) >= len(rows) - 1, said
    assert RULES_BY_ID["light.flare"].problem and RULES_BY_ID["light.flare"].advice


def test_untouched_photos_stay_quiet(photos):
    """None of these photos has lens flare or is a silhouette; at most one is called backlit."""
    from asemllm.critic.teacher import RULES_BY_ID

    for name, _, _, v in photos:
        assert not RULES_BY_ID["light.flare"].holds(v), (name, v["light_flare"])
        assert not RULES_BY_ID["light.silhouette"].holds(v), name
    assert sum(RULES_BY_ID["light.backlit"].holds(v) for *_, v in photos) <= 1


def test_measure_is_fast_on_a_big_photo(shared_data):
    from asemllm.critic.attributes import measure
    from asemllm.images import load_image

    path = shared_data / "photos" / "lomiri_20.04" / "Kleiber_by_Lukas_Baubkus.jpg"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    photo = load_image(path)
    calls = []
    original = L.measure

    def timed(scene):
        t = time.process_time()  # CPU time: other processes on a shared machine do not count
        out = original(scene)
        calls.append(time.process_time() - t)
        return out

    L.measure = timed
    try:
        sal = np.ones((photo.height // 8, photo.width // 8))
        for _ in range(3):
            measure(photo, saliency=sal)
    finally:
        L.measure = original
    # the family's share of the teacher's 1 s budget is ~60 ms on the 512-px working copy
    assert np.mean(calls) < 0.08, calls


def test_a_flat_frame_is_measured_without_claims():
    """A featureless grey frame: no direction, no backlight, no flare (degenerate input)."""
    from PIL import Image

    from asemllm.critic.teacher import RULES_BY_ID

    grey = Image.new("RGB", (320, 240), (118, 118, 118))
    v = values(grey, np.ones((240, 320)))
    assert abs(v["light_side"]) < 1e-6 and abs(v["light_backlight"]) < 1e-6 and v["light_flare"] == 0.0
    for rid in ("light.from_left", "light.from_right", "light.backlit", "light.silhouette", "light.flare",
                "light.hard", "light.golden_hour"):
        assert not RULES_BY_ID[rid].holds(v), rid
