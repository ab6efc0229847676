"""Fixation readers and density maps, on the real NUS scene and SALICON data where it is present.

The coordinate-order tests are the point of this file: a swapped (x, y) still gives a plausible
looking map on a square image, so they check it three ways - the frame of every NUS image, how
many points a swap would throw out of a strongly non-square one, and whether fixations land on
image structure (edges, objects) more than random or swapped points do.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from asemllm.saliency.datasets import FixationRecord, read_fixations
from asemllm.saliency.density import density_map, fixation_counts, resize_points, sigma_for

NUS = "saliency/nus_scene"
SALICON = "saliency/salicon_examples"


# ---------------------------------------------------------------- helpers


def structure_map(path, side=256):
    """Local edge energy of a photo at ~`side` px: Sobel magnitude, smoothed over ~1/64 side."""
    from scipy import ndimage

    with Image.open(path) as im:
        im.draft("L", (side, side))  # JPEG: decode at a reduced scale, much faster
        g = im.convert("L")
    s = side / max(g.size)
    g = g.resize((max(1, round(g.width * s)), max(1, round(g.height * s))), Image.BILINEAR)
    a = np.asarray(g, dtype=np.float64) / 255
    return ndimage.gaussian_filter(np.hypot(ndimage.sobel(a, 0), ndimage.sobel(a, 1)), side / 64)


def mean_at(m, pts):
    h, w = m.shape
    cols = np.clip(np.floor(pts[:, 0]).astype(int), 0, w - 1)
    rows = np.clip(np.floor(pts[:, 1]).astype(int), 0, h - 1)
    return float(m[rows, cols].mean())


def in_frame(pts, size):
    h, w = size
    return (pts[:, 0] >= 0) & (pts[:, 0] <= w) & (pts[:, 1] >= 0) & (pts[:, 1] <= h)


@pytest.fixture(scope="module")
def nus(shared_data):
    return read_fixations("nus", shared_data / NUS)


@pytest.fixture(scope="module")
def nus_raw(shared_data):
    import scipy.io

    tidy = shared_data / NUS / "data" / "tidy"
    cells = scipy.io.loadmat(tidy / "fixations.mat")["fixations"]
    sizes = scipy.io.loadmat(tidy / "imgInfo.mat")["imgInfo"]["size"][0, 0].astype(int)
    return cells, sizes


@pytest.fixture(scope="module")
def salicon(shared_data):
    return read_fixations("salicon", shared_data / SALICON)


@pytest.fixture
def photos(shared_data):
    """Two real photos of different sizes (referenced, never copied)."""
    d = shared_data / "photos"
    return d / "misc" / "grace_hopper.jpg", d / "misc" / "face.png"


# ---------------------------------------------------------------- NUS scene: coordinate order


def test_nus_columns_are_y_then_x_for_all_500(nus_raw, shared_data):
    cells, sizes = nus_raw
    assert cells.shape == (500, 12) and sizes.shape == (500, 2)
    swapped_fails = non_square = 0
    lows = []
    for i in range(500):
        h, w = sizes[i]
        with Image.open(shared_data / NUS / "data" / "stimuli" / f"{i + 1:03d}.jpg") as im:
            assert im.size == (w, h), f"imgInfo disagrees with {i + 1:03d}.jpg"
        pts = np.vstack([c[:, :2] for c in cells[i] if c.size])
        assert (pts[:, 0] <= h).all() and (pts[:, 1] <= w).all(), f"image {i + 1:03d}"
        assert (pts > 0).all()
        lows.append(pts.min())
        if h != w:
            non_square += 1
            swapped_fails += bool((pts[:, 0] > w).any() or (pts[:, 1] > h).any())
    # the other order would put points outside the frame of nearly every non-square image
    assert non_square == 188 and swapped_fails >= 150
    # values are continuous gaze positions in (0, size], not 1-based pixel indices: some are < 1
    assert min(lows) < 1


def test_nus_overlay_fixations_on_a_wide_photo(nus, tmp_path):
    rec = {r.id: r for r in nus}["121"]  # 445 x 800: a swap cannot hide in a 1.8:1 frame
    h, w = rec.size
    assert (h, w) == (445, 800)
    im = Image.open(rec.image).convert("RGB")
    draw = ImageDraw.Draw(im)
    for x, y in rec.points:
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=(255, 0, 0))
    out = tmp_path / "nus_121_overlay.png"
    im.save(out)
    red = np.asarray(Image.open(out))
    red = (red[..., 0] == 255) & (red[..., 1] == 0) & (red[..., 2] == 0)
    assert red.sum() > 500  # the dots are there (each covers ~80 px; clusters overlap)
    assert in_frame(rec.points, rec.size).all()
    swapped = rec.points[:, ::-1]
    assert (~in_frame(swapped, rec.size)).mean() > 0.5  # most swapped points leave the frame
    # fixations sit on the horse, the sun, the horizon: more edge energy than random points
    m = structure_map(rec.image)
    pts = resize_points(rec.points, rec.size, m.shape)
    rnd = np.random.default_rng(0).uniform([0, 0], [m.shape[1], m.shape[0]], (2000, 2))
    assert mean_at(m, pts) > 1.5 * mean_at(m, rnd)


def test_nus_fixations_land_on_structure_not_on_their_transpose(nus):
    rng = np.random.default_rng(0)
    real_vs_random, real_vs_swapped = [], []
    for rec in nus.records[:100]:
        m = structure_map(rec.image)
        pts = resize_points(rec.points, rec.size, m.shape)
        rnd = rng.uniform([0, 0], [m.shape[1], m.shape[0]], (500, 2))
        real = mean_at(m, pts)
        real_vs_random.append(real / mean_at(m, rnd))
        if rec.size[0] == rec.size[1]:  # transposing keeps every point inside a square frame
            real_vs_swapped.append(real / mean_at(m, pts[:, ::-1]))
    real_vs_random, real_vs_swapped = np.array(real_vs_random), np.array(real_vs_swapped)
    assert (real_vs_random > 1).mean() >= 0.85 and real_vs_random.mean() > 1.4
    assert len(real_vs_swapped) >= 50
    assert (real_vs_swapped > 1).mean() >= 0.8 and real_vs_swapped.mean() > 1.3


# ---------------------------------------------------------------- NUS scene: counts and split


def test_nus_split_observers_and_counts(shared_data, nus, nus_raw):
    cells, _ = nus_raw
    train = read_fixations("nus", shared_data / NUS, "train")
    val = read_fixations("nus", shared_data / NUS, "val")
    assert len(train) == 400 and len(val) == 100 and len(nus) == 500
    assert (train.records[0].id, train.records[-1].id) == ("001", "400")
    assert (val.records[0].id, val.records[-1].id) == ("401", "500")
    assert not nus.skipped and not train.skipped and not val.skipped
    assert train.n_points + val.n_points == nus.n_points == sum(c.shape[0] for c in cells.flat)
    for i, rec in enumerate(nus):
        empty = sum(c.size == 0 for c in cells[i])
        assert set(np.unique(rec.observers)) == {j + 1 for j in range(12) if cells[i, j].size}
        assert len(np.unique(rec.observers)) == 12 - empty
        assert rec.points.dtype == np.float64 and rec.points.shape == (len(rec.observers), 2)
        assert in_frame(rec.points, rec.size).all()
    per_image = np.array([len(r.points) for r in nus])
    assert 80 <= per_image.mean() <= 96  # DATA.md: about 88 per image
    assert per_image.min() >= 40 and per_image.max() <= 200
    assert any("empty observer cells" in n for n in nus.notes)
    with pytest.raises(ValueError, match="split"):
        read_fixations("nus", shared_data / NUS, "test")


# ---------------------------------------------------------------- SALICON


def test_salicon_pairs_are_row_col_one_based(shared_data, salicon):
    js = shared_data / SALICON / "annotations" / "fixations_train2014examples.json"
    data = json.loads(js.read_text())
    raw = np.array([f for a in data["annotations"] for f in a["fixations"]], dtype=float)
    assert all((im["height"], im["width"]) == (480, 640) for im in data["images"])
    # [row, col], 1-based: rows fill 1..480 and cols 1..640 exactly; a 0-based index would show
    # 0 and never 480/640, the other order would exceed 480 in its first column
    assert raw[:, 0].min() == 1 and raw[:, 0].max() == 480
    assert raw[:, 1].min() == 1 and raw[:, 1].max() == 640
    assert (raw[:, 1] > 480).mean() > 0.05

    assert len(salicon) == 10 and not salicon.skipped
    assert salicon.n_points == len(raw)
    pts = np.vstack([r.points for r in salicon])
    assert pts.min() == 0 and pts[:, 0].max() == 639 and pts[:, 1].max() == 479
    rec = salicon.records[0]
    assert rec.size == (480, 640)
    assert len(np.unique(rec.observers)) > 10  # many mouse-tracking workers per image


def test_salicon_fixations_land_on_structure(salicon, tmp_path):
    rng = np.random.default_rng(0)
    beats_random = beats_swapped = 0
    for rec in salicon:
        m = structure_map(rec.image, side=640)
        real = mean_at(m, rec.points)
        swapped = rec.points[:, ::-1]
        inside = in_frame(swapped, rec.size)
        assert (~inside).any()  # cols > 480 cannot be rows
        beats_random += real > mean_at(m, rng.uniform([0, 0], [640, 480], (2000, 2)))
        beats_swapped += real > mean_at(m, swapped[inside])
    assert beats_random >= 8 and beats_swapped >= 8
    rec = salicon.records[0]
    im = Image.open(rec.image).convert("RGB")
    ImageDraw.Draw(im).point([tuple(p) for p in rec.points[::5]], fill=(255, 0, 0))
    im.save(tmp_path / "salicon_overlay.png")
    assert Image.open(tmp_path / "salicon_overlay.png").size == (640, 480)


# ---------------------------------------------------------------- density maps


def test_density_sums_to_one_and_peaks_at_an_isolated_fixation():
    pts = np.array([[30.4, 20.7], [90.0, 70.0], [91.0, 70.5], [89.5, 71.0]])
    d = density_map(pts, (100, 120), sigma_px=4.0)
    assert d.dtype == np.float64 and d.shape == (100, 120)
    assert abs(d.sum() - 1) < 1e-12 and (d >= 0).all()
    assert np.unravel_index(d.argmax(), d.shape) == (70, 90)  # the cluster of three
    lone = density_map(pts[:1], (100, 120), sigma_px=4.0)
    assert np.unravel_index(lone.argmax(), lone.shape) == (20, 30)  # (floor y, floor x)
    assert abs(lone[20, :].sum() - lone[:, 30].sum()) < 0.05  # round kernel, not an axis streak
    raw = density_map(pts, (100, 120), sigma_px=0)
    assert (raw > 0).sum() == 4 and raw[20, 30] == raw[70, 90] == raw[71, 89] == 0.25


def test_density_edges_and_bad_input():
    counts = fixation_counts(np.array([[120.0, 100.0], [-1.0, 5.0], [np.nan, 3.0]]), (100, 120))
    assert counts.sum() == 1 and counts[99, 119] == 1  # closed right/bottom edge, others ignored
    corner = density_map(np.array([[0.0, 0.0]]), (50, 50), 5.0)
    assert abs(corner.sum() - 1) < 1e-12 and corner.argmax() == 0
    with pytest.raises(ValueError, match="no fixation"):
        density_map(np.array([[500.0, 500.0]]), (50, 50), 5.0)
    with pytest.raises(ValueError):
        density_map(np.zeros((1, 2)), (50, 50), -1.0)


def test_resize_points_and_sigma_for():
    pts = np.array([[0.0, 0.0], [800.0, 445.0], [400.0, 222.5]])
    small = resize_points(pts, (445, 800), (89, 160))
    np.testing.assert_allclose(small, [[0, 0], [160, 89], [80, 44.5]])
    np.testing.assert_allclose(resize_points(small, (89, 160), (445, 800)), pts)
    assert sigma_for("mit1003", (768, 1024)) == pytest.approx(35.0)
    assert sigma_for("mit300", (1024, 683)) == pytest.approx(35.0)
    assert sigma_for("salicon", (480, 640)) == pytest.approx(19.0)
    assert sigma_for("salicon", (240, 320)) == pytest.approx(9.5)
    assert sigma_for("cat2000", (1080, 1920)) == pytest.approx(40.0)
    assert sigma_for("nus", (256, 256)) == pytest.approx(8.75)
    assert sigma_for("NUS", (445, 800)) == pytest.approx(35 * 800 / 1024)
    with pytest.raises(ValueError):
        sigma_for("toronto", (480, 640))


def test_density_from_real_nus_record(nus):
    rec = nus.records[0]
    d = density_map(rec.points, rec.size, sigma_for("nus", rec.size))
    assert d.shape == rec.size and abs(d.sum() - 1) < 1e-9
    # the map's mass sits where the fixations are: far above uniform at the densest fixation
    assert d.max() > 5 / d.size


# ---------------------------------------------------------------- CSV reader


def write_csv(path, rows, header="image,x,y,observer"):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_csv_reader_on_real_photos(tmp_path, photos):
    hopper, face = photos
    (tmp_path / "face.png").symlink_to(face)  # referenced by a relative name, not copied
    csv = write_csv(tmp_path / "fix.csv", [
        f"{hopper},100,200,1", f"{hopper},300.5,10,2", f"{hopper},511,599,2",
        "face.png,0,0,7", "face.png,1023,767,7", "", "face.png,512,384,8"])
    ds = read_fixations("csv", csv)
    assert not ds.skipped and len(ds) == 2
    by = {r.image.name: r for r in ds}
    h = by["grace_hopper.jpg"]
    assert h.size == (600, 512) and h.id == str(hopper)
    np.testing.assert_array_equal(h.points, [[100, 200], [300.5, 10], [511, 599]])
    np.testing.assert_array_equal(h.observers, [1, 2, 2])
    f = by["face.png"]
    assert f.size == (768, 1024) and f.id == "face.png" and f.density is None
    assert list(f.observers) == [7, 7, 8]
    assert read_fixations("csv", tmp_path).n_points == 6  # a folder with one CSV works too


def test_csv_reader_counts_bad_entries(tmp_path, photos):
    hopper, _ = photos
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not a jpeg")
    csv = write_csv(tmp_path / "fix.csv", [
        "missing.jpg,10,10,1",
        "empty.jpg,10,10,1",
        "notes.jpg,5,5,1",
        f"{hopper},10,10,1", f"{hopper},-3,10,1", f"{hopper},10,601,2", f"{hopper},513,5,2",
        f"{hopper},abc,5,1",
        f"{hopper},5,5,first",
        f"{hopper},5",
        "face_only_out.png,1,1,1",
    ])
    (tmp_path / "face_only_out.png").symlink_to(photos[1])
    with open(csv, "a") as fh:
        fh.write("face_only_out.png,5000,1,1\n")
    ds = read_fixations("csv", csv)
    reasons = dict(ds.skipped)
    assert [r.id for r in ds] == [str(hopper), "face_only_out.png"]
    assert len(ds.records[0].points) == 1  # 3 of 4 were outside the 512 x 600 frame
    assert "missing.jpg" in reasons["missing.jpg"] and "missing" in reasons["missing.jpg"]
    assert "unreadable" in reasons["empty.jpg"] and "empty.jpg" in reasons["empty.jpg"]
    assert "unreadable" in reasons["notes.jpg"]
    assert "dropped 3 of 4" in reasons[str(hopper)]
    assert "dropped 1 of 2" in reasons["face_only_out.png"]
    assert sum("bad number" in r for _, r in ds.skipped) == 2
    assert sum("fields" in r for _, r in ds.skipped) == 1
    assert set(ds.skipped_ids) >= {"missing.jpg", "empty.jpg", "notes.jpg"}
    assert "2 records" in ds.summary()


def test_csv_reader_whole_image_out_of_frame_and_bad_layouts(tmp_path, photos):
    csv = write_csv(tmp_path / "a.csv", [f"{photos[0]},9999,9999,1"])
    ds = read_fixations("csv", csv)
    assert len(ds) == 0 and "all 1 fixation points outside" in ds.skipped[0][1]
    with pytest.raises(ValueError, match="header"):
        read_fixations("csv", write_csv(tmp_path / "b.csv", [f"{photos[0]},1,1"], header="a,b,c"))
    with pytest.raises(FileNotFoundError):
        read_fixations("csv", tmp_path)  # two CSVs: which one?
    with pytest.raises(ValueError, match="split"):
        read_fixations("csv", csv, "train")
    with pytest.raises(ValueError, match="unknown"):
        read_fixations("toronto", tmp_path)
    with pytest.raises(FileNotFoundError):
        read_fixations("nus", tmp_path / "nowhere")


# ---------------------------------------------------------------- MIT1003, MIT300, CAT2000


def binary_map(path, size_wh, pts, quality=90):
    """A black map with white single pixels at integer (x, y), saved (JPEG keeps ringing)."""
    m = Image.new("L", size_wh, 0)
    for x, y in pts:
        m.putpixel((int(x), int(y)), 255)
    if path.suffix == ".jpg":
        m.save(path, quality=quality)
    else:
        m.save(path)


def test_mit1003_binary_map_layout(tmp_path, photos):
    hopper, face = photos
    stim, maps = tmp_path / "ALLSTIMULI", tmp_path / "ALLFIXATIONMAPS"
    stim.mkdir(), maps.mkdir()
    for name, src in [("hopper.jpeg", hopper), ("face.jpeg", face), ("nomap.jpeg", hopper),
                      ("wrongsize.jpeg", hopper), ("blurred.jpeg", face)]:
        (stim / name).symlink_to(src)
    hop_pts = [(10, 20), (200, 300), (511, 599), (0, 0), (250, 100)]
    binary_map(maps / "hopper_fixPts.jpg", (512, 600), hop_pts)
    Image.new("L", (512, 600), 40).save(maps / "hopper_fixMap.jpg")
    binary_map(maps / "face_fixPts.jpg", (1024, 768), [(1023, 767), (500, 400)])
    binary_map(maps / "orphan_fixPts.jpg", (64, 64), [(3, 3)])
    binary_map(maps / "wrongsize_fixPts.jpg", (256, 300), [(3, 3)])
    Image.new("L", (1024, 768), 200).save(maps / "blurred_fixPts.jpg")  # a density map, misnamed

    ds = read_fixations("mit1003", tmp_path)
    by = {r.id: r for r in ds}
    assert sorted(by) == ["face", "hopper"]
    got = sorted(map(tuple, by["hopper"].points.astype(int)))
    assert got == sorted(hop_pts)  # JPEG ringing cut off, every point recovered
    assert (by["hopper"].observers == 0).all() and by["hopper"].density.name == "hopper_fixMap.jpg"
    assert by["face"].size == (768, 1024) and by["face"].density is None
    reasons = dict(ds.skipped)
    assert "no fixation map" in reasons["nomap"]
    assert "missing" in reasons["orphan"] and "orphan.jpeg" in reasons["orphan"]
    assert "size mismatch" in reasons["wrongsize"]
    assert "density map" in reasons["blurred"]
    with pytest.raises(FileNotFoundError, match="stimuli"):
        read_fixations("mit1003", maps)


def test_mit300_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="held out"):
        read_fixations("mit300", tmp_path)


def test_cat2000_layout(tmp_path, photos):
    import scipy.io

    hopper, face = photos
    base = tmp_path / "trainSet"
    for sub in ("Stimuli", "FIXATIONLOCS", "FIXATIONMAPS"):
        (base / sub / "Art").mkdir(parents=True)
        (base / sub / "Indoor").mkdir(parents=True)
    (base / "Stimuli" / "Art" / "001.jpg").symlink_to(hopper)
    (base / "Stimuli" / "Art" / "002.jpg").symlink_to(hopper)
    (base / "Stimuli" / "Indoor" / "001.jpg").symlink_to(face)
    (base / "Stimuli" / "Indoor" / "003.jpg").symlink_to(face)  # no FIXATIONLOCS file
    locs = np.zeros((600, 512), dtype=np.uint8)
    locs[[5, 100, 599], [7, 300, 511]] = 1
    scipy.io.savemat(base / "FIXATIONLOCS" / "Art" / "001.mat", {"fixLocs": locs})
    scipy.io.savemat(base / "FIXATIONLOCS" / "Art" / "002.mat", {"other": np.zeros(3)})
    binary_map(base / "FIXATIONLOCS" / "Indoor" / "001.png", (1024, 768), [(9, 8)])
    Image.new("L", (512, 600), 30).save(base / "FIXATIONMAPS" / "Art" / "001.jpg")

    ds = read_fixations("cat2000", tmp_path)  # the folder above trainSet/ works too
    by = {r.id: r for r in ds}
    assert sorted(by) == ["Art/001", "Indoor/001"]
    np.testing.assert_array_equal(by["Art/001"].points, [[7, 5], [300, 100], [511, 599]])
    assert by["Art/001"].density.name == "001.jpg" and by["Indoor/001"].density is None
    np.testing.assert_array_equal(by["Indoor/001"].points, [[9, 8]])
    reasons = dict(ds.skipped)
    assert "fixLocs" in reasons["Art/002"] and "no fixation file" in reasons["Indoor/003"]
    assert isinstance(ds.records[0], FixationRecord)
    os.rename(base / "FIXATIONLOCS", base / "elsewhere")
    with pytest.raises(FileNotFoundError, match="FIXATIONLOCS"):
        read_fixations("cat2000", base)
