"""Where the saliency peak lands on photos of people: inside a face, for the listed face photos; the
face prior (OpenCV's cascade) finds the listed faces, stays quiet on NUS's scene photos, and moves
the map's peak onto the face."""

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
def test_shipped_iasm_peaks_on_faces(shared_data):
    """The peak of the shipped saliency map (the IASM with the face prior, as the critic measures
    from) is inside the face on at least 80% of the listed photos (the IASM alone: Grace Hopper
    only; the cameraman's turned face is the profile cascade's); an earlier, CNN-only IASM, when one
    is shipped beside it for the models trained with it, is scored too (printed)."""
    from asemllm.saliency.predict import load_iasm

    new, new_hits = face_peak_share(load_iasm(), shared_data)
    earlier = Path(__import__("asemllm").__file__).parent / "weights" / "iasm-nus-cnn.safetensors"
    if earlier.is_file():
        old, old_hits = face_peak_share(load_iasm(str(earlier)), shared_data)
        print(f"face peaks: shipped {new:.2f} {new_hits}, earlier {old:.2f} {old_hits}")
    assert new >= 0.8, new_hits

def test_the_prior_moves_its_share_of_the_mass_onto_the_face():
    from asemllm.saliency.faces import FACE_MASS, with_faces

    sal = np.full((120, 200), 1 / (120 * 200))
    box = (140, 20, 180, 70)  # x0, y0, x1, y1 in a 240 x 400 frame: the map is at half size
    out = with_faces(sal, [box], (240, 400))
    assert abs(out.sum() - 1) < 1e-9
    assert peak_in_face(out, [[70, 10, 90, 35]], margin=0)
    near = out[0:45, 60:100].sum() - sal[0:45, 60:100].sum() * (1 - FACE_MASS)
    assert near > 0.9 * FACE_MASS  # the blob lies on the face, not spread over the frame
    assert with_faces(sal, [], (240, 400)) is sal


def _overlap(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / ((a[2] - a[0]) * (a[3] - a[1]))


def test_faces_are_found_on_portraits_and_rarely_on_scenes(shared_data):
    from asemllm.images import load_image
    from asemllm.saliency.faces import detect_faces

    boxes = json.loads(FACES.read_text())["faces"]
    for name in ("misc/grace_hopper.jpg", "skimage:astronaut", "skimage:camera"):
        found = detect_faces(load_face_photo(name, shared_data))
        assert any(_overlap(f, b) > 0.5 for f in found for b in boxes[name]), (name, found)
    stimuli = shared_data / "saliency" / "nus_scene" / "data" / "stimuli"
    hits = [n for n in range(401, 501) if detect_faces(load_image(stimuli / f"{n}.jpg"))]
    assert len(hits) <= 2, hits  # no clear face in NUS 401-500 (faces.json): a hit is a false one


def test_the_demo_portrait_peaks_on_the_face(shared_data):
    from asemllm.saliency.predict import load_iasm, predict_maps

    photo = load_face_photo("skimage:astronaut", shared_data)
    iasm = load_iasm()
    shape = (photo.height, photo.width)
    (alone,) = predict_maps(iasm, [photo], [shape], faces=False)
    (with_face,) = predict_maps(iasm, [photo], [shape])
    box = json.loads(FACES.read_text())["faces"]["skimage:astronaut"]
    assert not peak_in_face(alone, box)  # the IASM alone peaks on the suit's neck ring
    assert peak_in_face(with_face, box)
