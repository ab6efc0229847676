"""Line measurements on real photos: a keystone warp reads as converging verticals of about the
warp's lean, a 30-degree rotation turns level lines into diagonals, and the teacher says so."""

import random

import pytest

from asemllm.critic.measures import lines as L

# NUS validation scenes with buildings or other upright lines, and a photo with no long lines
UPRIGHT = ("434", "449", "455", "482", "500")


@pytest.fixture(scope="module")
def photos(shared_data):
    from asemllm.images import load_image

    folder = shared_data / "saliency" / "nus_scene" / "data" / "stimuli"
    return [load_image(str(folder / f"{n}.jpg")) for n in UPRIGHT]


def _values(image) -> dict:
    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import values

    return values(measure(image))


def _holds(rule_id, v) -> bool:
    from asemllm.critic.teacher import RULES_BY_ID

    return RULES_BY_ID[rule_id].holds(v)


def test_keystone_reads_about_the_lean_it_gives(photos):
    read = 0
    for image in photos:
        before, after = _values(image), _values(L.keystone(image, 0.08))
        assert "converging_verticals" in before  # these photos have vertical lines to fit
        expected = L.keystone_lean(image, 0.08)
        gained = after.get("converging_verticals", before["converging_verticals"]) - before["converging_verticals"]
        # the right way, and about the right amount (within a factor of 2)
        read += 0.5 * expected <= gained <= 2.0 * expected
        if after.get("converging_verticals", 0.0) >= L.KEYSTONE:
            assert _holds("lines.converging", after)
    assert read >= len(photos) - 1, read


def test_a_keystone_the_other_way_reads_negative(photos):
    image = photos[0]
    flipped = image.transpose(1)  # Image.FLIP_TOP_BOTTOM
    v = _values(L.keystone(image, 0.08).transpose(1))  # upside down: converging towards the bottom
    assert v["converging_verticals"] <= -L.KEYSTONE / 2
    assert "converging_verticals" in _values(flipped)


def test_rotation_turns_level_lines_into_diagonals(photos):
    for image in photos:
        before, after = _values(image), _values(L.rotate_lines(image, 30.0))
        assert before["diagonal_lines"] < L.DIAGONAL_MOST
        assert after["diagonal_lines"] >= before["diagonal_lines"] + 20.0, (before["diagonal_lines"],
                                                                            after["diagonal_lines"])
        assert _holds("lines.diagonal", after) and not _holds("lines.calm", after)


def test_a_plain_photo_has_no_line_claims(shared_data):
    """mate/Aqua (a drop in smooth water) has no long straight lines: no line claim may fire."""
    from asemllm.critic.teacher import RULES_BY_ID

    v = _values(str(shared_data / "photos" / "mate" / "Aqua.jpg"))
    assert v["line_strength"] < L.LINES_ENOUGH
    assert not [r.id for r in L.RULES if r.id != "lines.upright" and RULES_BY_ID[r.id].holds(v)]


def test_the_teacher_names_converging_verticals(photos):
    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import critique

    attrs = measure(L.keystone(photos[-1], 0.1))
    c = critique(attrs, "composition", random.Random(1))
    said = [x for x in c.claims if x.rule == "lines.converging"]
    assert said and "degree" in said[0].statement, c.text
