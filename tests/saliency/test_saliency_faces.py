"""Where the IASM's peak lands on photos of people: inside a face, for the listed face photos."""

import json
from pathlib import Path

import numpy as np
import pytest

FACES = Path(__file__).with_name("faces.json")
MARGIN = 0.05  # of the photo's longer side, around each face box


def load_face_photo(name: str, shared: Path):
    from PIL import Image

    if name.startswith("skimage:"):
        from skimage import data

        return Image.fromarray(getattr(data, name.split(":", 1)[1])()).convert("RGB")
    from asemllm.images import load_image

    return load_image(shared / "photos" / name)


def peak_in_face(sal: np.ndarray, boxes: list, margin: float = MARGIN) -> bool:
    """The argmax of `sal` (h, w) lies inside one of `boxes` ([x0, y0, x1, y1]) widened by `margin`."""
    y, x = np.unravel_index(int(sal.argmax()), sal.shape)
    m = margin * max(sal.shape)
    return any(x0 - m <= x + 0.5 <= x1 + m and y0 - m <= y + 0.5 <= y1 + m for x0, y0, x1, y1 in boxes)


def face_peak_share(iasm, shared: Path) -> tuple[float, dict]:
    from asemllm.saliency.predict import predict_maps

    hits = {}
    for name, boxes in json.loads(FACES.read_text())["faces"].items():
        photo = load_face_photo(name, shared)
        (sal,) = predict_maps(iasm, [photo], [(photo.height, photo.width)])
        hits[name] = peak_in_face(sal, boxes)
    return sum(hits.values()) / len(hits), hits


def test_face_boxes_lie_inside_their_photos(shared_data):
    for name, boxes in json.loads(FACES.read_text())["faces"].items():
        photo = load_face_photo(name, shared_data)
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= photo.width and 0 <= y0 < y1 <= photo.height, (name, photo.size)


def test_peak_in_face_reads_x_and_y_the_right_way_round():
    sal = np.zeros((100, 200))
    sal[20, 150] = 1  # row 20, column 150
    assert peak_in_face(sal, [[140, 10, 160, 30]], margin=0)
    assert not peak_in_face(sal, [[10, 140, 30, 160]], margin=0)


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="the goal is not reached yet: see docs/DESIGN_NOTES.md, "
                   "'The IASM reads the ViT (faces, people, text)'")
def test_shipped_iasm_peaks_on_faces(shared_data):
    """The shipped IASM's peak is inside the face on at least 80% of the listed photos; an
    earlier, CNN-only IASM, when one is shipped beside it for the models trained with it, is
    scored too (printed)."""
    from asemllm.saliency.predict import load_iasm

    new, new_hits = face_peak_share(load_iasm(), shared_data)
    earlier = Path(__import__("asemllm").__file__).parent / "weights" / "iasm-nus-cnn.safetensors"
    if earlier.is_file():
        old, old_hits = face_peak_share(load_iasm(str(earlier)), shared_data)
        print(f"face peaks: shipped {new:.2f} {new_hits}, earlier {old:.2f} {old_hits}")
    assert new >= 0.8, new_hits
