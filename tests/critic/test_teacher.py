"""The teacher: critiques built only from measured claims, and `check_claims`, their inverse.

The attribute dicts below are hand-made test inputs (clear cases); the measurement itself is tested
with attributes.py. One test at the end runs the real `measure` on a real photo.
"""

import random
import re

import numpy as np
import pytest

from asemllm.critic import rule as R
from asemllm.critic import teacher as T

from asemllm.critic.attributes import Attribute


def attrs(**values) -> dict:
    return {k: Attribute(k, v, "", "", f"{k}: {v}") for k, v in values.items()}


# A technically clean photo: every measurement in its good range.
GOOD = {"exposure_ev": 0.1, "brightness": 0.47, "highlights_clipped": 0.1, "shadows_crushed": 0.2,
        "contrast": 0.2, "dynamic_range": 7.5, "colourfulness": 40.0, "saturation": 0.4,
        "colour_temperature": 6500.0, "colour_cast": 1.5, "sharpness": 900.0, "subject_sharpness": 1200.0,
        "background_sharpness": 80.0, "focus_separation": 3.9, "noise": 0.8, "subject_position": 0.03,
        "centre_offset": 0.17, "subject_size": 0.12, "balance": 0.3, "horizon_tilt": 0.2, "symmetry": 0.1,
        "clutter": 0.02}
DARK = {**GOOD, "exposure_ev": -2.1, "brightness": 0.15, "shadows_crushed": 12.0}
BRIGHT = {**GOOD, "exposure_ev": 2.3, "brightness": 0.85, "highlights_clipped": 7.3}
TILTED = {**GOOD, "horizon_tilt": 4.2}
CASES = {"good": GOOD, "dark": DARK, "bright": BRIGHT, "tilted": TILTED}


def rules_of(critique) -> list[str]:
    return [c.rule for c in critique.claims]


def claim(critique, rule):
    return next(c for c in critique.claims if c.rule == rule)


# ---- clear cases --------------------------------------------------------------------------------

def test_dark_photo_is_called_underexposed_by_two_stops():
    for seed in range(20):
        c = T.critique(attrs(**DARK), "use_of_camera", random.Random(seed))
        s = claim(c, "exposure.dark").statement
        assert re.search(r"underexposed|too dark", s) and "about 2 stops" in s
        # advice points the right way: more light, never less
        assert re.search(r"raise the exposure|more exposure|brighten", s), s
        assert not re.search(r"lower|less exposure|darken", s), s
        assert "exposure.good" not in rules_of(c)
        tones = T.critique(attrs(**DARK), "color_lighting", random.Random(seed))
        assert "shadows.crushed" in rules_of(tones) and "12%" in claim(tones, "shadows.crushed").statement


def test_bright_photo_is_called_overexposed_with_the_opposite_advice():
    c = T.critique(attrs(**BRIGHT), "use_of_camera", random.Random(0))
    s = claim(c, "exposure.bright").statement
    assert "2.5 stops" in s and re.search(r"lower the exposure|less exposure|darken", s)
    tones = T.critique(attrs(**BRIGHT), "color_lighting", random.Random(0))
    assert "7%" in claim(tones, "highlights.clipped").statement


@pytest.mark.parametrize("tilt, turn", [(4.2, " clockwise"), (-4.2, "counter-clockwise")])
def test_tilted_horizon_is_named_and_straightened(tilt, turn):
    seen_turn = False
    for seed in range(20):
        c = T.critique(attrs(**{**GOOD, "horizon_tilt": tilt}), "composition", random.Random(seed))
        s = claim(c, "horizon.tilted").statement
        assert "4 degrees" in s and "straighten" in s and "horizon.level" not in rules_of(c)
        assert ("rising" if tilt > 0 else "falling") in s
        seen_turn |= turn in s
    assert seen_turn  # the phrasings that name a direction turn the right way


def test_good_photo_gets_praise_and_no_advice():
    for seed in range(10):
        crit = T.critique_all(attrs(**GOOD), random.Random(seed), label="tabby cat")
        for aspect, c in crit.items():
            assert c.claims, aspect  # every aspect has something true to say
            assert ";" not in c.text, c.text  # advice follows a "; "
            assert not any(T.RULES_BY_ID[r].problem for r in rules_of(c))
        assert rules_of(crit["general_impression"])[0] == "overall.strong"
        assert "horizon.level" in rules_of(crit["composition"])
        assert "dof.shallow" in rules_of(crit["depth_of_field"])
        assert "tabby cat" in crit["subject_of_photo"].text and "tabby cat" in crit["general_impression"].text


def test_general_impression_leads_with_the_worst_faults():
    c = T.critique(attrs(**DARK), "general_impression", random.Random(0), label="tabby cat")
    assert rules_of(c)[:3] == ["overall.mixed", "exposure.dark", "shadows.crushed"]
    assert ";" not in c.text  # the summary gives no advice
    weak = attrs(**{**DARK, "horizon_tilt": 3.0, "noise": 9.0})
    assert rules_of(T.critique(weak, "general_impression", random.Random(0)))[0] == "overall.weak"


# ---- the claim-to-evidence map ------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_text_is_its_claims_and_claims_carry_their_evidence(case):
    a = attrs(**CASES[case])
    for c in T.critique_all(a, random.Random(3), label="red bicycle").values():
        assert c.text == " ".join(cl.statement for cl in c.claims)
        for cl in c.claims:
            assert cl.aspect == c.aspect and cl.evidence
            assert all(a[n].value == v for n, v in cl.evidence.items())
            assert T.recognise(cl.statement) == [cl.rule]


@pytest.mark.parametrize("case", CASES)
def test_no_template_markers_and_rounded_numbers(case):
    for seed in range(10):
        for c in T.critique_all(attrs(**CASES[case]), random.Random(seed)).values():
            assert not re.search(r"[{}]|None|nan", c.text), c.text
            assert not re.search(r"\d\.\d\d", c.text), c.text  # at most one decimal
            assert not re.search(r"\b0 (stops|degrees)|\b0%", c.text), c.text


def test_number_formatting():
    assert [R.stops(x) for x in (-2.1, 1.0, -1.3, 0.1)] == ["2 stops", "1 stop", "1.5 stops", "0.5 stops"]
    assert [R.percent(x) for x in (7.3, 0.4, 37.6)] == ["7%", "under 1%", "38%"]
    assert [R.degrees(x) for x in (4.2, -1.7, 1.0, 12.6)] == ["4 degrees", "1.5 degrees", "1 degree", "13 degrees"]


def test_variety_across_seeds_with_the_same_claims():
    a = attrs(**DARK)
    crits = [T.critique_all(a, random.Random(seed), label="tabby cat") for seed in range(12)]
    for aspect in T.ASPECTS:
        assert len({tuple(rules_of(c[aspect])) for c in crits}) == 1, aspect
    assert len({c["use_of_camera"].text for c in crits}) > 3
    assert len({c["color_lighting"].text for c in crits}) > 3


def test_missing_attributes_drop_only_their_claims():
    partial = {k: v for k, v in GOOD.items() if k not in ("exposure_ev", "horizon_tilt")}
    crit = T.critique_all(attrs(**partial), random.Random(0))
    everything = [r for c in crit.values() for r in rules_of(c)]
    assert not [r for r in everything if r.startswith(("exposure.", "horizon."))]
    assert "tones.intact" in everything and "overall.strong" in everything
    # the attributes module reports "no horizon" as value None
    no_horizon = attrs(**GOOD)
    no_horizon["horizon_tilt"] = Attribute("horizon_tilt", None, "degrees", "no horizon", "no horizon found")
    assert not [r for r in rules_of(T.critique(no_horizon, "composition", random.Random(0))) if "horizon" in r]
    for c in T.critique_all({}, random.Random(0)).values():
        assert c.text == "" and c.claims == []


@pytest.mark.parametrize("case", CASES)
def test_targets_mark_exactly_the_rules_that_hold(case):
    t = T.targets(attrs(**CASES[case]))
    assert len(t) == len(T.ALL_RULES) and set(t) <= {0.0, 1.0}
    held = {r.id for r, x in zip(T.ALL_RULES, t) if x == 1.0}
    said = {c.rule for crit in T.critique_all(attrs(**CASES[case]), random.Random(0)).values() for c in crit.claims}
    assert said <= held
    assert ("exposure.dark" in held) == (case == "dark") and ("horizon.tilted" in held) == (case == "tilted")


def test_unknown_aspect_is_refused():
    with pytest.raises(ValueError, match="aspect"):
        T.critique(attrs(**GOOD), "lighting", random.Random(0))


# ---- check_claims: the inverse ------------------------------------------------------------------

def all_phrasings(rule, label):
    """Every sentence a rule can say, on values that make every placeholder fill."""
    sample = {**GOOD, "horizon_tilt": -3.3, "subject_size": 0.03, "highlights_clipped": 4.4}
    return T.phrasings(rule, attrs(**sample), label)


@pytest.mark.parametrize("label", [None, "tabby cat", "the old lighthouse"])
def test_every_phrasing_is_recognised_as_its_own_rule_only(label):
    for rule in T.ALL_RULES:
        assert len(rule.phrasings) >= 3 and (not rule.advice or len(rule.advice) >= 3), rule.id
        assert bool(rule.advice) == rule.problem, rule.id  # faults advise, strengths do not
        for sentence in all_phrasings(rule, label):
            assert T.recognise(sentence) == [rule.id], (rule.id, sentence)
            assert T.check_claims(sentence, {}) == [(rule.id, False)]  # unmeasured: not backed


def test_rng_reaches_every_phrasing():
    rule = T.RULES_BY_ID["exposure.dark"]
    seen = {claim(T.critique(attrs(**DARK), "use_of_camera", random.Random(s)), rule.id).statement
            for s in range(200)}
    with_advice = {s for s in T.phrasings(rule, attrs(**DARK)) if ";" in s}
    assert seen == with_advice and len(seen) == len(rule.phrasings) * len(rule.advice)


def random_attributes(rng: random.Random) -> dict:
    """Plausible values across the whole range of every attribute."""
    u = rng.uniform
    return attrs(exposure_ev=u(-3, 3), brightness=u(0, 1), highlights_clipped=u(0, 8), shadows_crushed=u(0, 15),
                 contrast=u(0.03, 0.4), dynamic_range=u(2, 12), colourfulness=u(0, 110), saturation=u(0, 1),
                 colour_temperature=u(3000, 12000), colour_cast=u(0, 20), sharpness=u(10, 2000),
                 subject_sharpness=u(10, 3000), background_sharpness=u(10, 2000), focus_separation=u(-3, 5),
                 noise=u(0.2, 10), subject_position=u(0, 0.3), centre_offset=u(0, 0.4), subject_size=u(0.01, 0.6),
                 balance=u(0, 0.9), horizon_tilt=u(-8, 8), symmetry=u(-0.5, 1), clutter=u(0, 0.15))


def test_generated_critiques_agree_with_their_own_measurements():
    rng = random.Random(7)
    for _ in range(100):
        a = random_attributes(rng)
        for c in T.critique_all(a, rng, label="tabby cat").values():
            assert c.claims, c.aspect  # every aspect always has something true to say
            found = T.check_claims(c.text, a)
            assert [r for r, _ in found] == rules_of(c)
            assert all(holds for _, holds in found)


def test_claims_checked_against_opposite_measurements_fail():
    text = " ".join(T.critique(attrs(**DARK), a, random.Random(0)).text for a in ("use_of_camera", "color_lighting"))
    found = dict(T.check_claims(text, attrs(**BRIGHT)))
    assert found["exposure.dark"] is False and found["shadows.crushed"] is False
    tilted = T.critique(attrs(**TILTED), "composition", random.Random(0)).text
    assert dict(T.check_claims(tilted, attrs(**GOOD)))["horizon.tilted"] is False
    level = T.critique(attrs(**GOOD), "composition", random.Random(0)).text
    assert dict(T.check_claims(level, attrs(**TILTED)))["horizon.level"] is False


def test_check_claims_on_free_text():
    text = ("A lovely scene. The photo is overexposed by about 2 stops. The horizon is level. "
            "Also, the image is noisy.")
    assert T.check_claims(text, attrs(**BRIGHT)) == [("exposure.bright", True), ("horizon.level", True),
                                                     ("noise.high", False)]
    assert T.check_claims("Nice picture!", attrs(**GOOD)) == []


# ---- on a real photo ----------------------------------------------------------------------------

def _darken(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Scale linear light by `factor` (0.25 = two stops down) and re-encode as sRGB uint8."""
    s = rgb / 255.0
    lin = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4) * factor
    out = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return (out * 255).round().clip(0, 255).astype(np.uint8)


def test_real_photo_and_its_two_stop_darker_copy():
    data = pytest.importorskip("skimage.data")
    from asemllm.critic.attributes import measure

    coffee = data.coffee()
    for photo, dark in [(coffee, False), (_darken(coffee, 0.25), True)]:
        a = measure(photo)
        c = T.critique(a, "use_of_camera", random.Random(0), label="cup of coffee")
        assert ("exposure.dark" in rules_of(c)) == dark, c.text
        assert all(holds for _, holds in T.check_claims(c.text, a))


# ---- numbers restated as measured ---------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_the_teachers_own_numbers_are_restated_unchanged(case):
    for seed in range(10):
        for c in T.critique_all(attrs(**CASES[case]), random.Random(seed)).values():
            text, found, same = T.restate_numbers(c.text, attrs(**CASES[case]))
            assert text == c.text and found == same
            assert found == len(re.findall(r"\d+(?:\.\d+)?(?: stops?| degrees?|%)", c.text)), c.text


def test_guessed_numbers_and_directions_become_the_measured_ones():
    a = attrs(**{**BRIGHT, "horizon_tilt": -4.2})
    text = ("About 12% of the frame is blown out to pure white.  The photo is overexposed by about 1 stop; "
            "lower the exposure by about 1 stop.\nThe horizon tilts by about 2 degrees, rising to the right; "
            "rotate it about 2 degrees clockwise to straighten it.")
    out, found, same = T.restate_numbers(text, a)
    assert out == ("About 7% of the frame is blown out to pure white.  The photo is overexposed by about 2.5 stops; "
                   "lower the exposure by about 2.5 stops.\nThe horizon tilts by about 4 degrees, falling to the "
                   "right; rotate it about 4 degrees counter-clockwise to straighten it.")
    assert (found, same) == (5, 0)
    assert T.check_claims(out, a) == T.check_claims(text, a)  # the claims themselves are untouched


def test_a_slot_two_claims_fill_is_left_as_written():
    a = attrs(**BRIGHT)  # highlights 7.3%, subject size 12%: two percentages
    text = "The subject takes up a comfortable share of the frame, about 30%, and blown highlights cover about 9%."
    assert T.restate_numbers(text, a) == (text, 0, 0)
    alone = "The subject takes up a comfortable share of the frame, about 30%."
    assert T.restate_numbers(alone, a)[0] == alone.replace("30%", "12%")


def test_a_subject_under_one_percent_reads_without_about():
    a = attrs(**{**GOOD, "subject_size": 0.004})
    rule = T.RULES_BY_ID["subject.small"]
    said = T.phrasings(rule, a)
    assert said and all("under 1%" in s and "about under" not in s.lower() for s in said), said
    guessed = "The subject is small in the frame, taking up about 3% of it."
    assert T.restate_numbers(guessed, a)[0] == "The subject is small in the frame, taking up under 1% of it."
    assert [rid for rid, _ in T.check_claims(guessed.replace("about 3%", "under 1%"), a)] == ["subject.small"]


def test_a_claim_is_said_at_most_twice_in_a_critique():
    """Each rule belongs to one aspect and at most one more; the summary restates only single-aspect
    rules, so no claim appears in more than two aspects of one critique."""
    assert all(1 <= len(r.aspects) <= 2 for r in T.RULES), [r.id for r in T.RULES if len(r.aspects) > 2]
    rng = np.random.default_rng(0)
    varied = ({n: v * rng.uniform(0, 3) + rng.normal(0, 1) for n, v in GOOD.items()} for _ in range(30))
    for case in [*CASES.values(), *varied]:
        crit = T.critique_all(attrs(**case), random.Random(0))
        said = [r for c in crit.values() for r in set(rules_of(c))]
        assert max(said.count(r) for r in said) <= 2, {r: said.count(r) for r in said if said.count(r) > 2}
