"""Processing: an added vignette reads as its stops of corner falloff, doubled saturation as clipped
colour, over-sharpening and local tone mapping as halos; untouched photos stay quiet."""

import numpy as np
import pytest
from measured_photos import measured, states

from asemllm.critic.measures import processing as P

# Real photos: NUS validation scenes (small JPEGs), mate backgrounds (large originals), scikit-image.
PHOTOS = ["nus-401", "nus-426", "nus-461", "mate-TwoWings", "mate-GreenMeadow", "skimage-coffee"]


@pytest.fixture(scope="module")
def photos(open_check_photo):
    return {n: open_check_photo(n) for n in PHOTOS}


@pytest.fixture(scope="module")
def untouched(photos):
    return {n: measured(im)[1] for n, im in photos.items()}


@pytest.mark.parametrize("stops", [1.0, 2.0])
def test_a_vignette_reads_as_its_stops(photos, untouched, stops):
    for name, image in photos.items():
        _, after = measured(P.vignette(image, stops))
        gained = after["vignette"] - untouched[name]["vignette"]
        assert abs(gained - stops) <= 0.35 * stops, (name, gained)


def test_a_vignette_on_even_corners_is_stated(photos, untouched):
    stated = 0
    for name, image in photos.items():
        attrs, after = measured(P.vignette(image, 1.0))
        stated += states(attrs, "processing.vignette") == (after["vignette"] >= P.VIGNETTE_HEAVY)
    assert stated == len(photos)  # the teacher says it exactly when the value crosses the threshold


def test_doubled_saturation_reads_as_clipped_colour(photos, untouched):
    for name, image in photos.items():
        if untouched[name]["colourfulness"] < P.SATURATE_APPLIES:
            continue
        attrs, after = measured(P.saturate(image, 2.0))
        assert after["oversaturation"] - untouched[name]["oversaturation"] >= P.SATURATE_READ, name
        assert after["oversaturation"] >= P.OVERSATURATED and states(attrs, "processing.oversaturated"), name
        # a gentle boost stays well under it
        _, mild = measured(P.saturate(image, 1.15))
        assert mild["oversaturation"] < after["oversaturation"] / 2, name


@pytest.mark.parametrize("edit", ["oversharpen", "tone_map"])
def test_halo_edits_raise_the_overshoot(photos, untouched, edit):
    for name, image in photos.items():
        _, after = measured(getattr(P, edit)(image))
        assert after["halo"] - untouched[name]["halo"] >= P.HALO_READ, (name, edit, after["halo"])


def test_strong_sharpening_of_a_crisp_photo_is_called_halos(photos):
    attrs, after = measured(P.oversharpen(photos["nus-401"], radius=2.5, amount=3.0))
    assert after["halo"] >= P.HALOS and states(attrs, "processing.halos")


def test_untouched_photos_show_no_processing_faults(untouched):
    for name, v in untouched.items():
        assert v["halo"] < P.HALOS, name
        if name != "mate-TwoWings":
            assert v["oversaturation"] < P.OVERSATURATED, name


def test_orange_bokeh_with_its_blue_channel_at_zero_is_clipped_colour(untouched):
    # mate-TwoWings as published: the out-of-focus orange flowers behind the seeds have their blue
    # channel at 0 over about a tenth of the frame, colour pushed past what the file can hold
    assert untouched["mate-TwoWings"]["oversaturation"] >= P.OVERSATURATED


def test_the_vignette_model_is_what_the_fit_assumes():
    from PIL import Image

    grey = Image.fromarray(np.full((300, 400, 3), 150, dtype=np.uint8))
    lin = np.asarray(P.vignette(grey, 1.0), dtype=np.float64) / 255
    lin = np.where(lin <= 0.04045, lin / 12.92, ((lin + 0.055) / 1.055) ** 2.4)[..., 1]
    assert np.log2(lin[150, 200] / lin[0, 0]) == pytest.approx(1.0, abs=0.1)  # a stop at the corner
    assert P.vignette_falloff(lin.astype(np.float32))[0] == pytest.approx(1.0, abs=0.1)
