"""Findings prompts: the head's probabilities -> the claims each aspect states -> the prompt the
LM reads (and, in training, the claims the teacher's text states). Tiny random models on real
photos for the model side: logic, no result."""

import random

import numpy as np
import pytest
import torch

from asemllm.critic import findings as F
from asemllm.critic import teacher as T
from asemllm.critic.teacher import ALL_RULES, ASPECTS
from asemllm.critic.claim_head import probabilities

IDS = [r.id for r in ALL_RULES]


def probs(**p) -> np.ndarray:
    out = np.full(len(IDS), 0.1)
    for name, v in p.items():
        out[IDS.index(name.replace("__", "."))] = v
    return out


def test_decide_keeps_the_most_confident_of_each_exclusive_group():
    p = probs(exposure__dark=0.9, exposure__bright=0.8, tones__intact=0.7, highlights__clipped=0.6,
              shadows__crushed=0.55, noise__low=0.51, colour__vivid=0.49)
    said = F.decide(p) - {T.verdict(1)}  # a verdict is always given (the next test)
    assert said == {"exposure.dark", "tones.intact", "noise.low"}  # colour.vivid is under 0.5
    assert F.decide(p, threshold=0.75) - {T.verdict(1)} == {"exposure.dark"}
    assert F.decide(probs(highlights__clipped=0.6, shadows__crushed=0.55)) - {T.verdict(2)} == {
        "highlights.clipped", "shadows.crushed"}


def test_the_verdict_counts_the_faults_decided_whatever_the_head_says_of_it():
    """The head's own verdict probabilities are ignored: no fault -> strong, 1-2 -> mixed, 3+ ->
    weak, the same count the teacher makes on the measurements."""
    assert T.RULES_BY_ID["exposure.dark"].problem and not T.RULES_BY_ID["tones.intact"].problem
    assert F.decide(probs(overall__weak=0.99, tones__intact=0.9)) == {"tones.intact", "overall.strong"}
    assert F.decide(probs(overall__strong=0.99, exposure__dark=0.9)) == {"exposure.dark", "overall.mixed"}
    faults = [r.id for r in T.RULES if r.problem][:6]
    exclusive = {r for g in T.EXCLUSIVE for r in g if sum(f in g for f in faults) > 1}
    faults = [f for f in faults if f not in exclusive][:3]  # three faults that can hold together
    assert len(faults) == 3
    said = F.decide(probs(overall__strong=0.99, **{f.replace(".", "__"): 0.9 for f in faults}))
    assert said == set(faults) | {"overall.weak"}


def test_decide_names_a_wrong_length():
    with pytest.raises(ValueError, match=f"{len(IDS) + 1} probabilities, the teacher has {len(IDS)} rules"):
        F.decide([0.5] * (len(IDS) + 1))


def test_a_head_trained_before_a_family_knows_the_first_rules():
    """Families are appended to ALL_RULES: an older head's probabilities cover a prefix of it."""
    probs = [0.0] * len(IDS)
    probs[IDS.index("exposure.dark")] = 0.9
    assert F.decide(probs[:3]) == F.decide(probs)


def test_exclusive_groups_never_hold_together():
    from test_teacher import random_attributes

    rng = random.Random(3)
    for _ in range(500):
        v = T.values(random_attributes(rng))
        for group in T.EXCLUSIVE:
            assert sum(T.RULES_BY_ID[r].holds(v) for r in group) <= 1, (group, v)


def test_findings_are_what_the_teachers_critique_states():
    from test_teacher import random_attributes, rules_of

    rng = random.Random(5)
    for _ in range(50):
        a = random_attributes(rng)
        holding = {r.id for r in ALL_RULES if r.holds(T.values(a))}
        for aspect in ASPECTS:
            assert F.findings(aspect, holding) == rules_of(T.critique(a, aspect, rng))


def test_prompt_lists_the_findings():
    from asemllm.config import ModelConfig

    cfg = ModelConfig()
    base = cfg.prompt("focus")
    assert cfg.prompt("focus", ["focus.subject_soft", "dof.shallow"]) == f"{base}\nFindings: focus.subject_soft, dof.shallow."
    assert cfg.prompt("focus", []).endswith("Findings: none.") and cfg.prompt("focus") == base


def _tiny(**kw):
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    cfg = tiny_config()
    cfg.aux_targets, cfg.aux_hidden, cfg.findings = len(IDS), 8, True
    for k, v in kw.items():
        setattr(cfg, k, v)
    torch.manual_seed(0)
    return build_model(cfg).eval()


def test_model_prompts_carry_its_heads_findings(two_photos):
    photos, _ = two_photos
    model = _tiny(findings_threshold=0.3)
    assert isinstance(model.head.tokens, torch.nn.Sequential)  # aux_hidden: an MLP head
    p = probabilities(model, photos).numpy()
    assert p.shape == (2, len(IDS)) and ((p > 0) & (p < 1)).all()
    aspects = ["composition", "general_impression"]
    got = F.prompts(model, photos, aspects)
    want = [model.config.prompt(a, F.findings(a, F.decide(row, 0.3))) for row in p for a in aspects]
    assert got == want and all("\nFindings: " in g for g in got)
    model.config.findings = False
    assert F.prompts(model, photos, aspects) == [model.config.prompt(a) for a in aspects] * 2


def test_settings_follow_the_prompt_only_for_a_model_trained_with_them():
    from asemllm.config import ModelConfig
    from asemllm.critic.measures.settings import prompt_text

    v = {"shutter_speed": 1 / 30, "aperture": 2.8, "iso": 3200.0, "focal_length": 135.0,
         "focal_length_35mm": 200.0, "flash_fired": 0.0}
    assert prompt_text(v) == "1/30 s, f/2.8, ISO 3200, 200 mm"
    assert prompt_text({"iso": 400.0, "flash_fired": 1.0, "aperture": None}) == "ISO 400, flash"
    assert prompt_text({"shutter_speed": None}) is None  # no EXIF: nothing said
    cfg = ModelConfig()
    base = cfg.prompt("use_of_camera", ["exposure.good"])
    assert cfg.prompt("use_of_camera", ["exposure.good"], prompt_text(v)) == base  # not trained with them
    cfg.settings = True
    assert cfg.prompt("use_of_camera", ["exposure.good"], prompt_text(v)) == f"{base}\nSettings: 1/30 s, f/2.8, ISO 3200, 200 mm."
    assert cfg.prompt("use_of_camera", ["exposure.good"], None) == base


def test_settings_claims_come_from_the_exif_not_the_head(two_photos):
    """The head sees pixels, not EXIF: for a model trained with settings, the settings claims a
    prompt lists are those the photo's EXIF and measurements back, whatever the head says."""
    from PIL import Image

    from asemllm.critic.attributes import measure
    from asemllm.critic.measures.settings import FLASH, ISO, with_exif

    photos, _ = two_photos
    model = _tiny(findings_threshold=0.0, settings=True)  # threshold 0: the head would say everything
    flash = with_exif(photos[0], {FLASH: 1, ISO: 200})
    attrs = [measure(flash), measure(photos[1])]
    said = F.holding(model, [flash, photos[1]], attributes=attrs)
    settings = {r for r in IDS if r.startswith("settings.")}
    assert said[0] & settings == {r for r in settings if T.RULES_BY_ID[r].holds(T.values(attrs[0]))}
    assert "settings.flash" in said[0] and not said[1] & settings  # the second photo has no EXIF
    got = F.prompts(model, [flash, photos[1]], ["use_of_camera"], attributes=attrs)
    assert got[0].endswith("\nSettings: ISO 200, flash.") and "Settings:" not in got[1]


def test_horizon_claims_come_from_the_measured_tilt(shared_data, two_photos):
    """`critic finish` hands the horizon's claims to the measurements (config.aux_measured): the
    findings state the tilt the teacher measures, whatever the head says, and the verdict counts it."""
    from asemllm.critic.attributes import measure
    from asemllm.critic.dataset import Photo, open_photo
    from asemllm.critic.refit import horizon_rules

    storm = open_photo(Photo("Storm", str(shared_data / "photos" / "mate" / "Storm.jpg")), side=512)
    photos = [storm, two_photos[0][0]]
    attrs = [measure(p) for p in photos]
    horizon = {T.ALL_RULES[i].id for i in horizon_rules()}
    assert horizon == {"horizon.tilted", "horizon.level"}
    assert T.RULES_BY_ID["horizon.tilted"].holds(T.values(attrs[0]))  # Storm's sea leans about 2 degrees
    head_only = F.holding(_tiny(findings_threshold=1.0), photos, attributes=attrs)
    assert head_only[0] == {"overall.strong"}  # the head says nothing above a threshold of 1
    measured = F.holding(_tiny(findings_threshold=1.0, aux_measured=tuple(horizon_rules())), photos, attributes=attrs)
    assert measured[0] == {"horizon.tilted", "overall.mixed"}
    assert measured[1] & horizon == {r for r in horizon if T.RULES_BY_ID[r].holds(T.values(attrs[1]))}
    everything = F.holding(_tiny(findings_threshold=0.0, aux_measured=tuple(horizon_rules())), photos, attributes=attrs)
    assert everything[0] & horizon == {"horizon.tilted"}


def test_findings_need_a_head():
    with pytest.raises(ValueError, match="findings needs an auxiliary head"):
        _tiny(aux_targets=0)


def test_training_batch_tells_a_findings_model_the_texts_claims(two_photos, tmp_path):
    from asemllm.config import tiny_config
    from asemllm.training.samples import Sample, load_batch

    path = tmp_path / "cat.png"
    two_photos[0][0].save(path)
    cfg = tiny_config()
    told = Sample(str(path), "focus", "The subject is sharp.", findings=("focus.subject_sharp",))
    _, prompts, answers = load_batch([told], cfg)
    assert prompts == [cfg.prompt("focus")] and answers == ["The subject is sharp."]  # findings off
    cfg.findings = True
    assert load_batch([told], cfg)[1] == [cfg.prompt("focus", ["focus.subject_sharp"])]
    cfg.settings = True
    with_exif = Sample(str(path), "focus", "The subject is sharp.", findings=("focus.subject_sharp",),
                       settings="1/30 s, ISO 3200")
    assert load_batch([with_exif], cfg)[1] == [cfg.prompt("focus", ["focus.subject_sharp"], "1/30 s, ISO 3200")]
    assert load_batch([with_exif], cfg)[1][0].endswith("\nSettings: 1/30 s, ISO 3200.")
    with pytest.raises(ValueError, match="cat.png: no meta\\['findings'\\]"):
        load_batch([Sample(str(path), "focus", "The subject is sharp.")], cfg)


def test_a_findings_critique_encodes_each_photo_once(two_photos):
    """The head's findings and the generation share one encoding (Encoded), and give the same text
    as encoding twice would."""
    from asemllm.critic.api import Critic

    photos, _ = two_photos
    model = _tiny()
    calls = []
    model.vision.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    aspects = ["composition", "focus"]
    texts = Critic(model, name="tiny")._texts(photos, [{}, {}], [None, None], aspects, seed=0)
    assert calls == [2]  # one pass over both photos
    twice = model.generate(photos, F.prompts(model, photos, aspects), max_new_tokens=96, repeat=len(aspects))
    assert [t[a] for t in texts for a in aspects] == [t.strip() for t in twice]


def test_the_critic_recipes_head_has_a_target_per_teacher_rule():
    """`make critic` trains on records with one target per rule of ALL_RULES: its configs' heads
    must have as many outputs, or training stops at the first batch."""
    from pathlib import Path

    import yaml

    for name in ("critic-cpu.yaml", "critic-nosal-cpu.yaml"):
        cfg = yaml.safe_load((Path(__file__).parents[2] / "configs" / name).read_text())
        assert cfg["model"]["aux_targets"] == len(ALL_RULES), name
