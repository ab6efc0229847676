"""`load_image`: every way a photo can be unusable is one clear ValueError; odd modes become RGB."""

import io

import numpy as np
import pytest
from PIL import Image

from asemllm.images import MIN_SIDE, load_image


def _bytes(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_bytes_and_file_objects():
    data = _bytes(Image.new("RGB", (64, 40), (10, 200, 30)), "PNG")
    for src in (data, io.BytesIO(data)):
        im = load_image(src)
        assert im.mode == "RGB" and im.size == (64, 40) and im.getpixel((0, 0)) == (10, 200, 30)


@pytest.mark.parametrize("data, words", [(b"", "empty"), (b"hello, not a photo", "not an image")])
def test_not_an_image(data, words):
    with pytest.raises(ValueError, match=words):
        load_image(data)


def test_truncated():
    data = _bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)), "JPEG")
    with pytest.raises(ValueError) as e:
        load_image(data[:400])
    assert "\n" not in str(e.value)


def test_tiny_rejected_only_when_asked():
    im = Image.new("RGB", (20, 20))
    assert load_image(im).size == (20, 20)  # the library default keeps small inputs working
    with pytest.raises(ValueError, match="20x20"):
        load_image(_bytes(im, "PNG"), min_side=MIN_SIDE)


def test_too_many_pixels():
    data = _bytes(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(ValueError, match="too many pixels"):
        load_image(data, max_pixels=50_000)


def test_decompression_bomb_is_value_error(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValueError, match="too many pixels"):
        load_image(_bytes(Image.new("RGB", (100, 100)), "PNG"))


def test_modes_become_rgb():
    cmyk = Image.new("CMYK", (40, 40), (0, 0, 0, 0))  # no ink: white
    assert load_image(_bytes(cmyk, "JPEG")).getpixel((5, 5))[0] > 240
    grey16 = Image.fromarray(np.full((40, 40), 65535, np.uint16))  # full-scale 16-bit: white, not clipped garbage
    assert load_image(_bytes(grey16, "PNG")).getpixel((5, 5)) == (255, 255, 255)
    half16 = Image.fromarray(np.full((40, 40), 32768, np.uint16))
    assert 120 < load_image(half16).getpixel((5, 5))[0] < 135
    assert load_image(Image.new("L", (40, 40), 77)).getpixel((1, 1)) == (77, 77, 77)
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent: over white
    assert load_image(_bytes(rgba, "PNG")).getpixel((1, 1)) == (255, 255, 255)
    pal = Image.new("P", (40, 40), 3)
    pal.putpalette([0, 0, 0, 10, 10, 10, 20, 20, 20, 200, 100, 50] + [0] * 756)
    assert load_image(_bytes(pal, "PNG")).getpixel((1, 1)) == (200, 100, 50)
    assert load_image(np.zeros((40, 40, 4), np.uint8)).mode == "RGB"


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = _bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    r, _, b = load_image(data).getpixel((5, 5))
    assert r > 200 and b < 50


def test_exif_orientation_applied():
    im = Image.new("RGB", (80, 40), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° CW on display
    assert load_image(_bytes(im, "JPEG", exif=exif)).size == (40, 80)


def test_missing_file_is_a_one_line_value_error(tmp_path):
    from asemllm.images import load_image

    with pytest.raises(ValueError, match="nope.jpg: no such file"):
        load_image(tmp_path / "nope.jpg")
