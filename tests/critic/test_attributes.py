"""Measured attributes on real photos with controlled edits: each edit must move its measurement."""

import math
import time

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from asemllm.critic.attributes import (
    LEVELS,
    NO_HORIZON,
    Attribute,
    level_for,
    measure,
    subject_mask,
)


def skimage_photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)())


def shared_photo(shared_data, rel: str) -> Image.Image:
    from asemllm.images import load_image

    path = shared_data / "photos" / rel
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return load_image(path)


def relight(photo: Image.Image, stops: float) -> Image.Image:
    """Exposure change: multiply linear light by 2**stops (clipped), re-encode as 8-bit sRGB."""
    x = np.asarray(photo, dtype=np.float64) / 255.0
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4) * 2.0 ** stops
    lin = lin.clip(0, 1)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return Image.fromarray((srgb * 255).round().astype(np.uint8))


def blob(shape, cx, cy, sigma=20.0) -> np.ndarray:
    """A synthetic saliency map: a Gaussian blob at pixel (cx, cy), summing to 1."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    m = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
    return m / m.sum()


def report(label, before, after, *names):
    for n in names:
        print(f"{label}: {n} {before[n].value} -> {after[n].value}")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_photo("astronaut")


@pytest.fixture(scope="module")
def astronaut_saliency(astronaut):
    from asemllm.critic.attributes import _iasm
    from asemllm.saliency.predict import predict_maps

    (sal,) = predict_maps(_iasm(), [astronaut], [(astronaut.height, astronaut.width)])
    return sal


def test_darken_two_stops():
    photo = skimage_photo("chelsea")
    sal = blob((photo.height, photo.width), 200, 150, 60)
    before, after = measure(photo, sal), measure(relight(photo, -2.0), sal)
    report("darken -2 EV", before, after, "exposure_ev", "brightness", "shadows_crushed")
    assert after["exposure_ev"].value - before["exposure_ev"].value == pytest.approx(-2.0, abs=0.25)
    assert after["brightness"].value < before["brightness"].value - 0.15
    assert after["shadows_crushed"].value > before["shadows_crushed"].value


def test_brighten_clips_highlights():
    photo = skimage_photo("coffee")
    sal = blob((photo.height, photo.width), 300, 200, 60)
    before, after = measure(photo, sal), measure(relight(photo, 1.5), sal)
    report("brighten +1.5 EV", before, after, "exposure_ev", "highlights_clipped")
    assert after["exposure_ev"].value - before["exposure_ev"].value == pytest.approx(1.5, abs=0.3)
    assert after["highlights_clipped"].value > before["highlights_clipped"].value + 5
    assert after["highlights_clipped"].level in ("noticeable", "strong")


def test_blur_lowers_sharpness(astronaut, astronaut_saliency):
    before = measure(astronaut, astronaut_saliency)
    after = measure(astronaut.filter(ImageFilter.GaussianBlur(4)), astronaut_saliency)
    report("blur 4", before, after, "sharpness", "subject_sharpness")
    assert after["sharpness"].value < before["sharpness"].value / 20
    assert after["sharpness"].level in ("very soft", "soft")


def test_background_blur_separates_focus(astronaut, astronaut_saliency):
    mask = subject_mask(astronaut_saliency)
    blurred = np.asarray(astronaut.filter(ImageFilter.GaussianBlur(4)))
    edited = Image.fromarray(np.where(mask[..., None], np.asarray(astronaut), blurred))
    before, after = measure(astronaut, astronaut_saliency), measure(edited, astronaut_saliency)
    report("background blur", before, after, "focus_separation", "background_sharpness")
    assert after["focus_separation"].value > before["focus_separation"].value + 2
    assert after["focus_separation"].level == "strong (shallow depth of field)"
    assert after["subject_sharpness"].value == pytest.approx(before["subject_sharpness"].value, rel=0.25)


@pytest.mark.parametrize("degrees", [5.0, -5.0])
def test_rotation_tilts_horizon(shared_data, degrees):
    # A calm sea horizon, straight across the frame (Ubuntu 20.04 wallpaper, CC BY-SA).
    photo = shared_photo(shared_data, "lomiri_20.04/Infinite-Sea_by_Aury88.jpg")
    photo = photo.resize((1024, 1024), Image.BOX)
    w, h = photo.size
    rotated = photo.rotate(degrees, resample=Image.BICUBIC)  # counter-clockwise for degrees > 0
    t = math.tan(math.radians(abs(degrees)))
    mx, my = math.ceil(h * t / 2) + 4, math.ceil(w * t / 2) + 4  # clear the black corners
    rotated = rotated.crop((mx, my, w - mx, h - my))
    sal = blob((photo.height, photo.width), w / 2, h / 2, 100)
    before, after = measure(photo, sal), measure(rotated, sal)
    print(f"rotate {degrees:+}: horizon {before['horizon_tilt'].value} -> {after['horizon_tilt'].value}")
    assert abs(before["horizon_tilt"].value) < 0.5 and before["horizon_tilt"].level == "level"
    assert after["horizon_tilt"].value == pytest.approx(degrees, abs=1.5)
    assert after["horizon_tilt"].level == "tilted"
    assert ("counter-clockwise" in after["horizon_tilt"].text) == (degrees > 0)


def test_no_horizon_is_reported_as_none():
    photo = skimage_photo("chelsea")
    a = measure(photo, blob((photo.height, photo.width), 200, 150, 60))["horizon_tilt"]
    assert a.value is None and a.level == NO_HORIZON


def test_crop_moves_subject_to_a_third():
    photo = skimage_photo("rocket")  # 640 x 427
    w, h = photo.size
    cx, cy = w / 2, h / 2
    before = measure(photo, blob((h, w), cx, cy))
    # keep the left/top part so the subject lands on the lower-right thirds point
    cw, ch = round(cx * 1.5), round(cy * 1.5)
    cropped = photo.crop((0, 0, cw, ch))
    after = measure(cropped, blob((ch, cw), cx, cy))
    report("crop", before, after, "subject_position", "centre_offset", "balance")
    print(after["subject_position"].text)
    assert before["centre_offset"].level == "centred"
    assert after["centre_offset"].value > before["centre_offset"].value + 0.1
    assert after["subject_position"].value < 0.02 < before["subject_position"].value
    assert after["subject_position"].level == "on a third"
    assert "x=0.67, y=0.67" in after["subject_position"].text
    assert after["balance"].value > 0.9 and "right" in after["balance"].text and "bottom" in after["balance"].text


@pytest.mark.parametrize("name", ["chelsea", "rocket", "astronaut"])
def test_added_noise_is_measured(name):
    photo = skimage_photo(name)
    sal = blob((photo.height, photo.width), photo.width / 2, photo.height / 2, 60)
    rng = np.random.default_rng(0)
    x = np.asarray(photo, dtype=np.float64)
    noisy = Image.fromarray((x + rng.normal(0, 10, x.shape)).clip(0, 255).round().astype(np.uint8))
    before, after = measure(photo, sal), measure(noisy, sal)
    report(f"noise 10 on {name}", before, after, "noise")
    true = math.hypot(10.0, before["noise"].value)
    assert after["noise"].value == pytest.approx(true, rel=0.2)
    assert after["noise"].level == "strong" and before["noise"].level in ("clean", "slight")


def test_warm_cast(astronaut, astronaut_saliency):
    x = np.asarray(astronaut, dtype=np.float64) * [1.15, 1.0, 0.85]
    warm = Image.fromarray(x.clip(0, 255).round().astype(np.uint8))
    before, after = measure(astronaut, astronaut_saliency), measure(warm, astronaut_saliency)
    report("warm cast", before, after, "colour_temperature", "colour_cast")
    print(after["colour_cast"].text)
    assert after["colour_temperature"].value < before["colour_temperature"].value - 1000
    assert after["colour_temperature"].level in ("warm", "slightly warm")
    assert after["colour_cast"].value > before["colour_cast"].value + 5
    assert "yellow" in after["colour_cast"].text


def test_desaturate(astronaut, astronaut_saliency):
    before = measure(astronaut, astronaut_saliency)
    after = measure(ImageEnhance.Color(astronaut).enhance(0.2), astronaut_saliency)
    report("desaturate", before, after, "colourfulness", "saturation")
    assert after["colourfulness"].value < before["colourfulness"].value / 3
    assert after["saturation"].value < before["saturation"].value / 2
    assert after["colourfulness"].level in ("not colourful", "slightly colourful")


def check_consistent(result: dict[str, Attribute]):
    assert set(result) == set(LEVELS)
    for name, a in result.items():
        assert a.name == name
        assert a.value is None or math.isfinite(a.value), name
        # an absent value (no horizon, no EXIF, too few lines) carries its own level saying why
        assert a.level == level_for(name, a.value) if a.value is not None else a.level, name
        if a.value is not None:
            assert a.unit and a.unit in a.text and a.level in a.text, a.text
            shown = [format(a.value, f) for f in (".0f", ".1f", ".2f", ".3f", "+.1f")]
            assert any(s in a.text for s in shown), a.text


def test_levels_units_and_greyscale(astronaut):
    result = measure(astronaut)  # saliency from the shipped model
    check_consistent(result)
    for a in result.values():
        print(a.text)
    grey = measure(astronaut.convert("L"))
    check_consistent(grey)
    assert grey["saturation"].value < 0.01 and grey["colourfulness"].value < 1
    assert grey["colour_cast"].value < 1 and grey["colour_cast"].level == "none"


@pytest.mark.parametrize("fill", [0, 128, 255])
def test_flat_frames_never_nan(fill):
    for size in [(64, 48), (9, 7)]:
        check_consistent(measure(Image.new("RGB", size, (fill,) * 3)))


def test_big_photo_is_fast(shared_data):
    photo = shared_photo(shared_data, "lomiri_20.04/Kleiber_by_Lukas_Baubkus.jpg")  # 6028 x 3391
    measure(photo)  # load the saliency model
    t = time.perf_counter()
    result = measure(photo)
    total = time.perf_counter() - t
    sal = np.ones((photo.height, photo.width))  # a full-size map, as predict_maps gives
    t = time.perf_counter()
    measure(photo, saliency=sal)
    given = time.perf_counter() - t
    print(f"{photo.size}: measure {total * 1000:.0f} ms, with saliency given {given * 1000:.0f} ms")
    check_consistent(result)
    assert given < 5.0  # loose: the machine may be busy; the point is the printed number


def test_all_shared_photos(shared_data):
    from asemllm.images import load_image

    paths = sorted(p for p in (shared_data / "photos").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    for p in paths:
        photo = load_image(p)
        t = time.perf_counter()
        result = measure(photo)
        print(f"{p.name} {photo.size} {1000 * (time.perf_counter() - t):.0f} ms")
        check_consistent(result)
