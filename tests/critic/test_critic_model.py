"""The default critic's pipeline: training data from edited real photos, the measurement of a
critic on unseen photos, the content label, bundling into the package, batched generation."""

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image

from asemllm.critic import dataset, evaluate
from asemllm.critic.attributes import measure
from asemllm.models import save_model
from asemllm.critic.claim_head import probabilities


def test_training_and_evaluation_photos_are_disjoint_and_real(shared_data):
    train, held_out = dataset.training_photos(shared_data), dataset.evaluation_photos(shared_data)
    assert len(held_out) == 100 and all(p.id.startswith("nus-") for p in held_out)
    assert not {p.id for p in train} & {p.id for p in held_out}
    sources = {p.id.split("-")[0] for p in train}
    assert sources == {"nus", "salicon", "mate", "lomiri_20.04", "misc", "skimage"}
    assert "skimage-astronaut" not in {p.id for p in train}  # the demo photo stays unseen


def test_edits_move_their_measurements(shared_data):
    """Each edit the training data uses changes what it should, by about as much as it should."""
    photo_path = str(shared_data / "photos/lomiri_20.04/Infinite-Sea_by_Aury88.jpg")
    photo = dataset.open_photo(dataset.Photo("sea", photo_path))
    before = measure(photo)
    rgb = np.asarray(photo, dtype=np.float32) / 255

    def as_image(x):
        return Image.fromarray((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8))

    dark = measure(as_image(dataset.expose(rgb, -2.0)))
    assert dark["exposure_ev"].value == pytest.approx(before["exposure_ev"].value - 2, abs=0.25)
    # a tint is read from near-neutral pixels, so it is tested on a photo with real neutrals (the
    # white suit); on a sunset sea there are none and the reading is unreliable (docs/MODEL_CARD.md)
    suit = dataset.open_photo(dataset.Photo("astronaut", "skimage:astronaut"))
    suit_rgb = np.asarray(suit, dtype=np.float32) / 255
    warm, cool = (measure(as_image(dataset.tint(suit_rgb, t)))["colour_temperature"].value for t in (0.25, -0.25))
    assert warm < measure(suit)["colour_temperature"].value - 1000 < cool - 2000
    sea = dataset.open_photo(dataset.Photo("sea", photo_path), side=1024)  # a horizon needs pixels to be found
    level, tilted = measure(sea), measure(dataset.rotate(sea, 5.0))
    assert abs(level["horizon_tilt"].value) < 0.5 and tilted["horizon_tilt"].value == pytest.approx(5.0, abs=1.0)
    soft = measure(dataset.blur(photo, 3.0))
    assert soft["sharpness"].value < before["sharpness"].value / 4
    noisy = measure(as_image(dataset.add_noise(rgb, 8.0, random.Random(0))))
    assert noisy["noise"].value == pytest.approx(8.0, rel=0.3)


def test_build_writes_records_from_the_stored_pixels_and_resumes(shared_data, tmp_path, monkeypatch):
    from asemllm.critic.teacher import ALL_RULES, check_claims

    few = dataset.training_photos(shared_data)[:2] + [dataset.Photo("skimage-coffee", "skimage:coffee")]
    monkeypatch.setattr(dataset, "training_photos", lambda root: few)
    first = dataset.build(tmp_path, shared_data, variants=2, workers=1, log=lambda *a: None)
    assert first["records"] == 6
    again = dataset.build(tmp_path, shared_data, variants=3, workers=1, log=lambda *a: None)
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert again["records"] == 9 and len(rows) == 9 and len({r["id"] for r in rows}) == 9
    for r in rows:
        image = tmp_path / r["image"]
        attrs = measure(image)  # the labels describe the stored pixels
        assert {k: v for k, v in r["meta"]["attributes"].items() if v is not None} == pytest.approx(
            {k: a.value for k, a in attrs.items() if a.value is not None}, rel=1e-4, abs=1e-6)  # thread-count rounding
        assert max(Image.open(image).size) <= dataset.WORK_SIDE
        held = {rule.id for rule, t in zip(ALL_RULES, r["meta"]["targets"], strict=True) if t == 1.0}
        unknown = {rule.id for rule, t in zip(ALL_RULES, r["meta"]["targets"], strict=True) if t is None}
        assert unknown == {rule.id for rule in ALL_RULES if rule.id.startswith("settings.")}  # EXIF: not the head's
        for aspect, (text,) in r["critiques"].items():
            assert all(ok for _, ok in check_claims(text, attrs)), (aspect, text)
            assert {rid for rid, _ in check_claims(text, attrs)} - unknown <= held  # the aux targets say so too
            assert r["meta"]["findings"][aspect] == [rid for rid, _ in check_claims(text, attrs)]
        assert (r["meta"]["edits"] == []) == r["id"].endswith("-0")


def test_training_variants_get_the_families_edits_and_keep_their_exif(tmp_path):
    """The critic's training photos get the measurement families' edits too (the claims they make
    need photos that show them), colour and contrast changes, and a settings edit's EXIF reaches
    the stored photo whose measurements label it."""
    from PIL import Image
    from skimage import data

    from asemllm.images import load_image

    photo = Image.fromarray(data.coffee()).resize((300, 200))
    rng = random.Random(0)
    done = [what for _ in range(60) for what in dataset.augment(photo, rng)[1]]
    families = {w.split(":")[0] for w in done if ":" in w}
    assert len(families) >= 4, done
    assert any(w.startswith(("color x", "contrast x")) for w in done)
    while True:  # the first variant that got a camera-settings edit
        image, what = dataset.augment(photo, rng)
        if any(w.startswith("settings:") for w in what):
            break
    path = tmp_path / "v.jpg"
    dataset.store(image, path)
    settings = {"shutter_speed", "aperture", "iso", "flash_fired"}
    assert any(measure(load_image(str(path)))[n].value is not None for n in settings), what


def test_teacher_passes_its_own_measurement(shared_data):
    """The measurement's sanity check: the teacher's critiques agree with the measurements, and it
    reports every controlled edit the measurements show."""
    heard = []
    result = evaluate.measure_critic(None, shared_data, limit=3, log=heard.append)
    assert heard == [f"{part}: photo {i}/3" for part in ("claims", "edits") for i in (1, 2, 3)]
    agreement = result["claim_agreement"]
    assert agreement["claims"] > 50 and agreement["agree"] == 1.0 and agreement["sentences_without_known_claims"] == 0
    assert agreement["claims_in_over_two_aspects"] == {"claims": 0, "critiques": 0}  # the teacher's own limit
    edits = result["controlled_edits"]
    assert edits["shown"] >= 10 and edits["reported"] == edits["shown"]
    shown = {k for k, v in edits["per_edit"].items() if v.get("shown")}
    assert {"darken 2 stops", "tilt 5 degrees"} <= shown


def test_every_measurement_family_is_among_the_evaluated_edits():
    """Each family's controlled edits are edits of `critic eval`, reported in the aspects their
    claims are said in, and the photos take them in turn: every one meets as many photos."""
    from collections import Counter

    from asemllm.critic.attributes import FAMILIES
    from asemllm.critic.teacher import RULES_BY_ID

    fam = evaluate.family_edits()
    assert {e.name.split(":")[0] for e in fam} == {m.__name__.rsplit(".", 1)[1] for m in FAMILIES}
    for e in (*evaluate.EDITS, *evaluate.more_core_edits(), *fam):  # reported where the teacher says its effects
        assert e.effects and set(e.aspects) == {a for r in e.effects for a in RULES_BY_ID[r].aspects}, e.name
    per = 6
    turns = Counter(e.name for i in range(len(fam)) for e in evaluate.family_turn(i, per))
    assert set(turns) == {e.name for e in fam} and set(turns.values()) == {per}
    names = [e.name for e in (*evaluate.EDITS, *evaluate.more_core_edits(), *fam)]
    assert len(names) == len(set(names))


def test_a_wrong_critique_scores_low(shared_data):
    """Claims that contradict the photo count against the critic (here: a fixed, false text)."""
    from asemllm.critic.teacher import check_claims

    photo = dataset.open_photo(dataset.evaluation_photos(shared_data)[0])
    attrs = measure(photo)
    dark = measure(evaluate.apply_edit("darken 2 stops", photo))
    text = "The photo is overexposed by about 2 stops. The image is noisy."
    assert [ok for _, ok in check_claims(text, dark)] == [False, dark["noise"].value >= 4.0]
    assert attrs["exposure_ev"].value - dark["exposure_ev"].value == pytest.approx(2.0, abs=0.3)


def test_content_label_names_real_subjects():
    from skimage import data

    from asemllm.critic.content import class_names, classify, subject_phrase

    names = class_names()
    assert len(names) == 1000 and names[281] == "tabby" and names[967] == "espresso"
    cat = classify(Image.fromarray(data.chelsea()))
    assert cat.label in {"tabby", "tiger cat", "Egyptian cat"} and cat.confidence > 0.35
    coffee = classify(Image.fromarray(data.coffee()))
    assert coffee.label == "espresso" and subject_phrase(coffee) == "cup"  # named by its coarse group
    assert [p for _, p in coffee.top5] == sorted((p for _, p in coffee.top5), reverse=True)


def test_subject_box_follows_the_saliency():
    from asemllm.critic.content import subject_box

    sal = np.zeros((300, 400))
    sal[40:80, 300:360] = 1.0
    x0, y0, x1, y1 = subject_box(sal)
    assert 0 <= x0 <= 300 and 360 <= x1 <= 400 and 0 <= y0 <= 40 and 80 <= y1 <= 300
    assert x1 - x0 == y1 - y0  # square where the frame allows


def test_name_subject():
    from asemllm.critic.api import name_subject

    text = "The subject is centred in the frame. A simple backdrop keeps attention on the subject."
    assert name_subject(text, "tabby") == "The tabby is centred in the frame. A simple backdrop keeps attention on the tabby."
    assert name_subject(text, None) == text


def test_repeat_encodes_each_image_once_and_matches_duplicates(tiny, two_photos):
    photos, _ = two_photos
    prompts = ["a", "b", "c", "d"]
    tiny.eval()
    same = tiny.generate([photos[0], photos[0], photos[1], photos[1]], prompts, max_new_tokens=5)
    assert tiny.generate(photos, prompts, max_new_tokens=5, repeat=2) == same
    with pytest.raises(ValueError, match="2 images x 2 but 3 prompts"):
        tiny.generate(photos, prompts[:3], repeat=2)


def test_bundle_keeps_only_what_training_changed(tiny, tmp_path, two_photos):
    from safetensors import safe_open

    from asemllm.models import INT8_SCALE, load_model
    from asemllm.critic.bundle import bundle

    save_model(tiny, tmp_path / "run")
    print(bundle(tmp_path / "run", tmp_path / "bundled", force=True))
    with safe_open(str(tmp_path / "bundled" / "model.safetensors"), "pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert {"F16", "I8"} <= set(dtypes.values())  # fp16, and int8 for the large matrices
    assert all(k.endswith(INT8_SCALE) for k, d in dtypes.items() if d == "F32")  # only their row scales
    again = load_model(tmp_path / "bundled")
    tiny.eval()
    photos, _ = two_photos
    with torch.no_grad():
        a = tiny(photos, ["a", "b"]).logits
        b = again(photos, ["a", "b"]).logits
    assert torch.allclose(a, b, atol=0.05)  # fp16 and int8 storage


@pytest.mark.slow
def test_bundled_critic_is_small_and_loads_without_its_iasm_copy():
    from safetensors import safe_open

    from asemllm.critic.api import BUNDLED

    if not (BUNDLED / "config.json").is_file():
        pytest.skip(f"no bundled critic at {BUNDLED} (train one: make critic)")
    weights = BUNDLED / "model.safetensors"
    assert weights.stat().st_size < 4 * 2 ** 20  # the low-rank critic (critic compact)
    with safe_open(str(weights), "pt") as f:
        keys = list(f.keys())
    assert not any(k.startswith(("iasm.", "vision.tower.")) for k in keys)
    assert any("lora_" in k for k in keys) and any(k.startswith("projector.") for k in keys)


def test_bundled_critic_reads_noise_at_native_resolution(shared_data):
    """Grain at 1,600 x 1,200 px (sigma 8 levels) that the 224 px copy averages away: the shipped
    critic's head says "noisy" for the grainy photo and not for the clean one."""
    import asemllm
    from asemllm.critic.refit import noise_rules
    from asemllm.critic.teacher import ALL_RULES

    critic = asemllm.load()
    if not critic.model.config.aux_native:
        pytest.skip("the bundled critic has no native branch (critic head --native)")
    assert list(critic.model.config.aux_native) == noise_rules()
    sea = Image.open(shared_data / "photos" / "lomiri_20.04" / "Infinite-Sea_by_Aury88.jpg").convert("RGB")
    clean = sea.crop((1200, 1400, 2800, 2600))
    rgb = np.asarray(clean, dtype=np.float32) / 255
    grainy = Image.fromarray((dataset.add_noise(rgb, 8.0, random.Random(0)) * 255 + 0.5).astype(np.uint8))
    high = [r.id for r in ALL_RULES].index("noise.high")
    p = probabilities(critic.model, [clean, grainy])[:, high]
    assert p[0] < 0.5 < p[1], p.tolist()


def test_bundled_critic_places_a_moved_subject_where_the_measurement_does(shared_data):
    """Crops that move the subject of NUS 401-420 towards an edge (the measurement's edit): where the
    measured placement changes, the shipped critic's head names the new one -- its geometry branch
    (critic head --geometry); the statistics MLP alone named it 35 times in 50 on NUS 401-500."""
    import asemllm
    from asemllm.critic.findings import decide
    from asemllm.critic.refit import geometry_rules
    from asemllm.critic.teacher import RULES_BY_ID, values
    from asemllm.saliency.predict import predict_maps

    critic = asemllm.load()
    if not critic.model.config.aux_geometry:
        pytest.skip("the bundled critic has no geometry branch (critic head --geometry)")
    assert list(critic.model.config.aux_geometry) == geometry_rules()
    shown = named = 0
    for photo in [dataset.open_photo(p) for p in dataset.evaluation_photos(shared_data)[:20]]:
        (sal,) = predict_maps(critic.iasm, [photo], [(photo.height, photo.width)])
        before = values(measure(photo, saliency=sal))
        moved = evaluate.apply_edit("move the subject", photo, sal)
        after = values(measure(moved))
        new = {r for r in evaluate.PLACEMENT if RULES_BY_ID[r].holds(after) and not RULES_BY_ID[r].holds(before)}
        if new:
            shown += 1
            named += bool(new & decide(probabilities(critic.model, [moved])[0].numpy()))
    assert shown >= 8 and named >= shown - 1, (named, shown)  # one at a threshold's edge may go either way


def test_bundle_refuses_a_critic_that_fails_its_measurement(tiny, tmp_path):
    from asemllm.critic.bundle import bundle

    save_model(tiny, tmp_path / "run" / "model")
    with pytest.raises(FileNotFoundError, match="measure the critic first"):
        bundle(tmp_path / "run" / "model", tmp_path / "out")
    measured = {"claim_agreement": {"agree": 0.5879}, "controlled_edits": {"share": 0.95}}
    (tmp_path / "run" / "measured.json").write_text(json.dumps(measured))
    with pytest.raises(ValueError, match=r"claim agreement 58.8% < 90%\); not bundled"):
        bundle(tmp_path / "run" / "model", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    measured["claim_agreement"]["agree"] = 0.93
    (tmp_path / "run" / "measured.json").write_text(json.dumps(measured))
    assert "tensors" in bundle(tmp_path / "run" / "model", tmp_path / "out")


def test_eval_reports_the_auxiliary_head_beside_the_text(shared_data):
    """A model with a head over the teacher's rules gets the head's own precision/recall and edit
    share; the numbers are counts over real measurements (a random tiny model: no result)."""
    from asemllm.models import build_model
    from asemllm.config import tiny_config
    from asemllm.critic.teacher import ALL_RULES

    cfg = tiny_config()
    cfg.aux_targets, cfg.aux_token = len(ALL_RULES), True
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    result = evaluate.measure_critic(model, shared_data, limit=1, max_new_tokens=4)
    head = result["claim_agreement"]["head"]
    assert set(head) == {"claims_said", "precision", "recall", "accuracy"}
    assert 0 <= head["claims_said"] <= len(ALL_RULES) and 0 <= head["accuracy"] <= 1
    edits = result["controlled_edits"]
    assert 0 <= edits["head_reported"] <= edits["shown"] and "head_share" in edits
    assert "head" not in evaluate.measure_critic(None, shared_data, limit=1)["claim_agreement"]


def test_eval_encodes_each_photo_once(shared_data):
    """The head's measurement, the findings and the seven prompts read one encoding of the photo,
    and each edited photo is encoded once though it serves two aspects (blur): the image encoder
    sees the photo and its shown edits, nothing more."""
    from asemllm.models import build_model
    from asemllm.config import tiny_config
    from asemllm.critic.teacher import ALL_RULES

    cfg = tiny_config()
    cfg.aux_targets = len(ALL_RULES)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    seen = []
    model.vision.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    result = evaluate.measure_critic(model, shared_data, limit=1, max_new_tokens=4)
    edits = result["controlled_edits"]
    assert edits["per_edit"]["blur 3 px"]["shown"] == 1  # an edit read in two aspects is among them
    assert sum(seen) == 1 + edits["shown"], seen
