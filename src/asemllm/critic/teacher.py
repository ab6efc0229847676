"""The teacher: critiques composed only of claims that the measured attributes back.

No aesthetic image+critique pairs exist offline, so the default critic is taught by measurement:
this module turns `asemllm.critic.attributes.measure(...)` output into PCCD-style critiques (one
per aspect), sentence by sentence, where every sentence is a `Claim` produced by a `Rule` that
fired on measured values and carries those values as its evidence. `check_claims` is the inverse:
it finds which rules a (generated) text invokes, by each rule's recogniser regex, and re-evaluates
each rule's condition on a photo's attributes -- the "share of claims that agree" metric.

Design rules that keep the inverse exact (tested in tests/critic/test_teacher.py):
- every phrasing of a rule contains its recogniser's key phrase, and no other rule's key phrase
  (opposites such as "underexposed"/"overexposed", "tilts"/"level" use disjoint vocabularies);
- advice points the way the measurement says (too dark -> raise the exposure) and avoids other
  rules' key phrases too;
- thresholds are module constants on `Attribute.value`; `level` strings are never used for logic
  (only the "no horizon" case, which means the value is absent). A missing attribute silently
  drops the claims that need it.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from .measures import framing, harmony, light, lines, motion, processing, settings
from .rule import Rule, between as _between, degrees, pct as _pct, stops

ASPECTS = ("general_impression", "subject_of_photo", "composition", "use_of_camera",
           "depth_of_field", "color_lighting", "focus")

# ---- thresholds (on Attribute.value; units as in asemllm.critic.attributes) -------------------
# They follow the level tables in attributes.py where those mark a visible change, so a claim and
# the attribute's displayed level agree; where the teacher is stricter, the comment says why.
# Exposure: median linear luminance vs 18% grey, in stops. Metering aims there; a stop either way is
# plainly visible. Within +-1 stop the exposure is called right, so this aspect always has a claim.
EV_DARK, EV_BRIGHT = -1.0, 1.0
# Clipping, % of frame: > 2% of blown highlights is noticeable; crushed blacks are more often a
# deliberate choice (silhouettes, low key), so they must cover > 5% ("strong") to be called a fault.
# Below 0.5% at both ends (specks only) the tonal range is intact.
HIGHLIGHTS_CLIPPED, SHADOWS_CRUSHED, TONES_INTACT = 2.0, 5.0, 0.5
# RMS contrast (std of luma 0-1): < 0.1 looks flat/foggy, > 0.3 is harsh.
CONTRAST_LOW, CONTRAST_HIGH = 0.10, 0.30
# Hasler-Suesstrunk colourfulness M: < 15 "not colourful", > 59 "quite colourful" or more.
COLOUR_MUTED, COLOUR_VIVID = 15.0, 59.0
# colour_cast: Delta E of the near-neutral pixels from grey; > 8 is an obvious cast, < 3 none.
CAST_STRONG, CAST_NEUTRAL = 8.0, 3.0
# colour_temperature (K) of the near-neutrals: <= 4500 K plainly warm, >= 10000 K plainly cool;
# "neutral" white balance also needs 5700-7500 K (around D65 = 6504 K).
TEMP_WARM, TEMP_COOL, TEMP_NEUTRAL = 4500.0, 10000.0, (5700.0, 7500.0)
# Noise sigma (0-255 levels): >= 4 is visible grain, < 1.5 clean.
NOISE_HIGH, NOISE_LOW = 4.0, 1.5
# Laplacian variance (sharpness, subject_sharpness, background_sharpness): < 100 soft, >= 500 sharp.
SHARP_LOW, SHARP_HIGH = 100.0, 500.0
# focus_separation = log2(subject / background sharpness): < -1 the background is sharper (focus
# missed); within +-1 the planes look equally sharp (deep depth of field); 1-3 some softening;
# >= 3 (8x) a shallow depth of field.
SEP_MISSED, SEP_SOME, SEP_SHALLOW = -1.0, 1.0, 3.0
# Saliency centroid, frame-diagonal units. A thirds point is 1/6 diag from the centre, so "near a
# third" (< 0.10) and "centred" (< 0.05) cannot both hold; off-centre below 0.15, and beyond that,
# away from every thirds point too, the placement is called undecided.
THIRDS_NEAR, THIRDS_FAR, CENTRE_NEAR, CENTRE_FAR = 0.10, 0.12, 0.05, 0.15
# Subject size: fraction of the frame holding half the saliency mass; < 5% small, >= 30% fills it.
SUBJECT_SMALL, SUBJECT_LARGE = 0.05, 0.30
# Balance: the largest half-vs-half saliency imbalance (0 even, 1 all on one side).
BALANCE_EVEN, BALANCE_LOPSIDED = 0.2, 0.5
# Horizon tilt in degrees (+ = counter-clockwise, rising to the right): > 1.5 reads as a mistake,
# < 0.5 is invisible (level); in between no claim is made.
TILT_VISIBLE, TILT_LEVEL = 1.5, 0.5
# Symmetry: correlation with the mirror image; >= 0.7 "symmetric".
SYMMETRY_STRONG = 0.7
# Clutter: Canny edge density outside the subject; < 0.03 clean, >= 0.08 busy.
CLUTTER_CLEAN, CLUTTER_BUSY = 0.03, 0.08
# The overall verdict needs this many attributes measured before it judges the photo at all.
VERDICT_MIN_MEASURED = 4


# ---- rules ---------------------------------------------------------------------------------------
def _ev(v):
    return {"ev": stops(v["exposure_ev"])}


def _tilt(v):
    """Degrees, which way it runs, and which way to turn it back (+ = rises to the right)."""
    up = v["horizon_tilt"] > 0
    return {"deg": degrees(v["horizon_tilt"]), "way": "rising to the right" if up else "falling to the right",
            "turn": "clockwise" if up else "counter-clockwise"}


CORE: list[Rule] = [
    # -- exposure (use_of_camera) and tones (color_lighting) --
    Rule("exposure.dark", ("use_of_camera",), ("exposure_ev",),
         lambda v: v["exposure_ev"] < EV_DARK,
         ("the photo is underexposed by about {ev}",
          "the frame comes out too dark, about {ev} under a normal exposure",
          "it is roughly {ev} underexposed, so the scene looks murky",
          "the exposure falls short: the image is too dark by about {ev}"),
         r"underexposed|too dark",
         ("raise the exposure by about {ev}", "give it about {ev} more exposure",
          "brighten it by about {ev} in camera or in editing"),
         problem=True, weight=3.0, fill=_ev),
    Rule("exposure.bright", ("use_of_camera",), ("exposure_ev",),
         lambda v: v["exposure_ev"] > EV_BRIGHT,
         ("the photo is overexposed by about {ev}",
          "the frame comes out too bright, about {ev} over a normal exposure",
          "it is roughly {ev} overexposed, so the scene looks washed out",
          "the exposure overshoots: the image is too bright by about {ev}"),
         r"overexposed|too bright",
         ("lower the exposure by about {ev}", "give it about {ev} less exposure",
          "darken it by about {ev} in camera or in editing"),
         problem=True, weight=3.0, fill=_ev),
    Rule("exposure.good", ("use_of_camera",), ("exposure_ev",),
         lambda v: EV_DARK <= v["exposure_ev"] <= EV_BRIGHT,
         ("the exposure is well judged", "the photo is well exposed",
          "the exposure sits right where it should, neither murky nor washed out",
          "overall brightness is spot on"),
         r"exposure is well judged|well exposed|exposure sits right|brightness is spot on", weight=3.0),
    Rule("highlights.clipped", ("color_lighting",), ("highlights_clipped",),
         lambda v: v["highlights_clipped"] > HIGHLIGHTS_CLIPPED,
         ("about {pct} of the frame is blown out to pure white",
          "the highlights clip over roughly {pct} of the image",
          "blown highlights cover about {pct} of the picture"),
         r"blown|highlights clip",
         ("expose for the highlights", "recover what you can of the highlights in editing",
          "pull the highlights down before they burn out"),
         problem=True, weight=2.0, fill=_pct("highlights_clipped")),
    Rule("shadows.crushed", ("color_lighting",), ("shadows_crushed",),
         lambda v: v["shadows_crushed"] > SHADOWS_CRUSHED,
         ("about {pct} of the frame is crushed to pure black",
          "the shadows block up over roughly {pct} of the image",
          "crushed shadows swallow about {pct} of the picture"),
         r"crushed|block up",
         ("lift the shadows to recover their detail", "open the shadows with fill light or in editing",
          "bring up the deepest tones a little"),
         problem=True, weight=1.5, fill=_pct("shadows_crushed")),
    Rule("tones.intact", ("color_lighting",), ("highlights_clipped", "shadows_crushed"),
         lambda v: v["highlights_clipped"] < TONES_INTACT and v["shadows_crushed"] < TONES_INTACT,
         ("both the brightest and the darkest tones hold their detail",
          "detail survives at both ends of the tonal range",
          "nothing is lost at either end of the tonal scale"),
         r"hold their detail|both ends of the tonal range|either end of the tonal scale", weight=1.5),
    # -- sharpness and noise (use_of_camera) --
    # soft overall AND a soft subject: a sharp subject on a blurred background is shallow depth
    # of field, not camera shake, and must not get shutter-speed advice
    Rule("sharpness.soft", ("use_of_camera",), ("sharpness", "subject_sharpness"),
         lambda v: v["sharpness"] < SHARP_LOW and v["subject_sharpness"] < SHARP_LOW,
         ("the image is soft overall", "the whole frame lacks crispness",
          "fine detail looks smeared across the frame"),
         r"soft overall|lacks crispness|detail looks smeared",
         ("use a faster shutter speed or steady the camera", "check the focus and brace the camera",
          "a tripod or a faster shutter would help"),
         problem=True, weight=2.0),
    Rule("sharpness.good", ("use_of_camera",), ("sharpness",),
         lambda v: v["sharpness"] >= SHARP_HIGH,
         ("the image is crisp", "fine detail is rendered cleanly",
          "the photo is technically crisp, with clean fine detail"),
         r"\bcrisp\b|rendered cleanly", weight=2.0),
    Rule("noise.high", ("use_of_camera",), ("noise",),
         lambda v: v["noise"] >= NOISE_HIGH,
         ("the image is noisy", "noticeable grain covers the frame",
          "there is noticeable noise, especially in the flat areas"),
         r"noisy|noticeable (grain|noise)",
         ("use a lower ISO or more light", "shoot at a lower ISO, or denoise gently in editing",
          "give the sensor more light so the ISO can come down"),
         problem=True, weight=1.5),
    Rule("noise.low", ("use_of_camera",), ("noise",),
         lambda v: v["noise"] < NOISE_LOW,
         ("noise is kept low", "the image shows very little noise", "the file is practically noise-free"),
         r"noise is kept low|very little noise|noise-free"),
    # -- contrast and colour (color_lighting) --
    Rule("contrast.low", ("color_lighting",), ("contrast",),
         lambda v: v["contrast"] < CONTRAST_LOW,
         ("the tones are flat, with little contrast", "the image looks flat and low in contrast",
          "contrast is weak, so the picture lacks punch"),
         r"little contrast|low in contrast|contrast is weak",
         ("add contrast with a gentle S-curve", "deepen the blacks and lift the whites a touch",
          "look for stronger, more directional light"),
         problem=True, weight=1.5),
    Rule("contrast.high", ("color_lighting",), ("contrast",),
         lambda v: v["contrast"] > CONTRAST_HIGH,
         ("the contrast is harsh", "the light is hard and the contrast very strong",
          "contrast runs high, with stark jumps between light and dark"),
         r"contrast is harsh|contrast very strong|contrast runs high",
         ("soften it with fill light or a gentler curve", "try softer, more diffuse light",
          "ease the curve so the midtones breathe"),
         problem=True, weight=1.0),
    Rule("contrast.good", ("color_lighting",), ("contrast",),
         lambda v: CONTRAST_LOW <= v["contrast"] <= CONTRAST_HIGH,
         ("the contrast is well balanced", "contrast is pleasingly moderate",
          "the tonal contrast feels natural"),
         r"contrast is well balanced|contrast is pleasingly moderate|contrast feels natural"),
    Rule("colour.muted", ("color_lighting",), ("colourfulness",),
         lambda v: v["colourfulness"] < COLOUR_MUTED,
         ("the colours are muted", "the palette is subdued, almost monochrome",
          "colour plays a quiet role, with restrained hues"),
         r"colours are muted|palette is subdued|restrained hues"),
    Rule("colour.moderate", ("color_lighting",), ("colourfulness",),
         _between("colourfulness", COLOUR_MUTED, COLOUR_VIVID),
         ("the colours are natural and moderate", "the palette is balanced, neither dull nor garish",
          "colour is used with a moderate, natural hand"),
         r"colours are natural|palette is balanced|moderate, natural hand"),
    Rule("colour.vivid", ("color_lighting",), ("colourfulness",),
         lambda v: v["colourfulness"] >= COLOUR_VIVID,
         ("the colours are vivid", "the palette is rich and saturated",
          "strong, vibrant hues carry the picture"),
         r"colours are vivid|palette is rich|vibrant hues", weight=1.2),
    Rule("colour.warm", ("color_lighting",), ("colour_temperature",),
         lambda v: v["colour_temperature"] <= TEMP_WARM,
         ("the light is warm and golden", "a warm, amber tone runs through the picture",
          "the scene glows with warm light"),
         r"warm and golden|warm, amber|glows with warm"),
    Rule("colour.cool", ("color_lighting",), ("colour_temperature",),
         lambda v: v["colour_temperature"] >= TEMP_COOL,
         ("the light is cool and bluish", "a cool, blue tone runs through the picture",
          "the scene has a cold, blue feel"),
         r"cool and bluish|cool, blue tone|cold, blue feel"),
    # A cast is measured on what should be grey; a warm scene can be intended, so the advice hedges.
    Rule("colour.cast", ("color_lighting",), ("colour_cast",),
         lambda v: v["colour_cast"] > CAST_STRONG,
         ("there is a noticeable colour cast", "the neutral tones carry a visible tint",
          "greys do not look grey: a strong tint colours the whole frame"),
         r"colour cast|visible tint|strong tint",
         ("correct the white balance unless the mood calls for it",
          "set the white balance on something neutral if the tint is not intended",
          "neutralise it in editing unless it is deliberate"),
         problem=True, weight=0.5),
    Rule("colour.neutral", ("color_lighting",), ("colour_cast", "colour_temperature"),
         lambda v: v["colour_cast"] < CAST_NEUTRAL and TEMP_NEUTRAL[0] <= v["colour_temperature"] <= TEMP_NEUTRAL[1],
         ("the white balance is neutral", "whites stay white, with no tint",
          "the colour balance is clean and neutral"),
         r"white balance is neutral|whites stay white|clean and neutral"),
    # -- placement, size, balance, horizon, clutter (composition / subject_of_photo) --
    Rule("placement.thirds", ("composition",), ("subject_position",),
         lambda v: v["subject_position"] < THIRDS_NEAR,
         ("{subject} sits near a rule-of-thirds point", "{subject} is placed close to a thirds intersection",
          "placing {subject} on a third gives the frame a natural flow"),
         r"rule-of-thirds point|thirds intersection|on a third\b", weight=1.5),
    Rule("placement.centred", ("composition",), ("centre_offset",),
         lambda v: v["centre_offset"] < CENTRE_NEAR,
         ("{subject} is centred in the frame", "{subject} sits in the middle of the frame",
          "a central placement gives {subject} a calm, formal weight"),
         r"\bcentred\b|middle of the frame|central placement"),
    Rule("placement.off_centre", ("composition",), ("centre_offset", "subject_position"),
         lambda v: CENTRE_NEAR <= v["centre_offset"] < CENTRE_FAR and v["subject_position"] >= THIRDS_NEAR,
         ("{subject} sits a little off-centre", "{subject} is nudged just off the centre line",
          "a slightly off-centre position keeps {subject} from looking static"),
         r"off-centre|just off the centre"),
    Rule("placement.loose", ("composition",), ("subject_position", "centre_offset"),
         lambda v: v["subject_position"] > THIRDS_FAR and v["centre_offset"] >= CENTRE_FAR,
         ("{subject} sits in an undecided spot, away from every strong point of the frame",
          "the placement of {subject} feels arbitrary",
          "{subject} drifts towards an edge without a clear reason"),
         r"undecided spot|feels arbitrary|drifts towards an edge",
         ("reframe so it lands on a stronger point", "recompose with a more deliberate position",
          "crop to give it a clearer place in the frame"),
         problem=True, weight=1.0),
    Rule("subject.small", ("subject_of_photo",), ("subject_size",),
         lambda v: v["subject_size"] < SUBJECT_SMALL,
         ("{subject} is small in the frame, taking up about {pct} of it",
          "{subject} gets lost, occupying only about {pct} of the picture",
          "at about {pct} of the frame, {subject} is too small to hold attention"),
         r"small in the frame|gets lost|too small to hold",
         ("get closer or crop in", "move in or use a longer focal length", "crop tighter around it"),
         problem=True, weight=1.5, fill=_pct("subject_size", 100)),
    Rule("subject.size_good", ("subject_of_photo",), ("subject_size",),
         _between("subject_size", SUBJECT_SMALL, SUBJECT_LARGE),
         ("{subject} takes up a comfortable share of the frame, about {pct}",
          "{subject} is given a sensible amount of room, roughly {pct} of the picture",
          "at about {pct} of the frame, {subject} is well sized"),
         r"comfortable share|sensible amount of room|well sized", fill=_pct("subject_size", 100)),
    Rule("subject.large", ("subject_of_photo",), ("subject_size",),
         lambda v: v["subject_size"] >= SUBJECT_LARGE,
         ("{subject} fills the frame boldly", "{subject} dominates the picture",
          "filling the frame with {subject} gives it real presence"),
         r"fills the frame|dominates the picture|filling the frame"),
    Rule("balance.even", ("composition",), ("balance",),
         lambda v: v["balance"] < BALANCE_EVEN,
         ("the visual weight is evenly spread", "the frame feels evenly balanced",
          "neither side of the picture outweighs the other"),
         r"weight is evenly spread|evenly balanced|outweighs the other"),
    Rule("balance.leaning", ("composition",), ("balance",),
         _between("balance", BALANCE_EVEN, BALANCE_LOPSIDED),
         ("the visual weight leans towards one side", "the interest gathers more on one side of the frame",
          "the frame carries somewhat more weight on one side"),
         r"weight leans|gathers more on one side|somewhat more weight"),
    Rule("balance.lopsided", ("composition",), ("balance",),
         lambda v: v["balance"] >= BALANCE_LOPSIDED,
         ("nearly all the visual weight piles up on one side",
          "the frame is heavily weighted to one side, leaving the rest empty",
          "the interest is concentrated on one side, with little to counter it"),
         r"piles up on one side|heavily weighted|little to counter it"),
    Rule("horizon.tilted", ("composition",), ("horizon_tilt",),
         lambda v: abs(v["horizon_tilt"]) > TILT_VISIBLE,
         ("the horizon tilts by about {deg}, {way}", "the horizon is off true by roughly {deg}, {way}",
          "a tilted horizon, about {deg} out and {way}, unsettles the frame"),
         r"horizon tilts|off true|tilted horizon",
         ("straighten it", "rotate it about {deg} {turn} to straighten it",
          "straighten it in editing with a {turn} turn"),
         problem=True, weight=2.0, fill=_tilt),
    Rule("horizon.level", ("composition",), ("horizon_tilt",),
         lambda v: abs(v["horizon_tilt"]) < TILT_LEVEL,
         ("the horizon is level", "the horizon runs dead level", "a level horizon keeps the scene steady"),
         r"horizon is level|horizon runs dead level|level horizon", weight=1.5),
    Rule("symmetry.strong", ("composition",), ("symmetry",),
         lambda v: v["symmetry"] >= SYMMETRY_STRONG,
         ("the frame is strongly symmetrical", "a mirror-like symmetry organises the picture",
          "left and right echo each other almost like a reflection"),
         r"symmetrical|symmetry|echo each other"),
    Rule("clutter.busy", ("subject_of_photo",), ("clutter",),
         lambda v: v["clutter"] >= CLUTTER_BUSY,
         ("the background is busy and competes with {subject}",
          "clutter around {subject} pulls the eye away",
          "the surroundings are cluttered"),
         r"busy and competes|clutter around|are cluttered",
         ("simplify the background", "change the angle to clean up the background",
          "use a wider aperture to blur the distractions"),
         problem=True, weight=1.5),
    Rule("clutter.clean", ("subject_of_photo",), ("clutter",),
         lambda v: v["clutter"] < CLUTTER_CLEAN,
         ("the background is clean and uncluttered", "nothing in the surroundings distracts from {subject}",
          "a simple backdrop keeps attention on {subject}"),
         r"clean and uncluttered|nothing in the surroundings distracts|simple backdrop", weight=1.2),
    # -- focus and depth of field --
    Rule("focus.subject_sharp", ("focus",), ("subject_sharpness",),
         lambda v: v["subject_sharpness"] >= SHARP_HIGH,
         ("{subject} is in sharp focus", "the focus lands squarely on {subject}",
          "{subject} is pin-sharp"),
         r"in sharp focus|focus lands squarely|pin-sharp", weight=2.5),
    Rule("focus.subject_fair", ("focus",), ("subject_sharpness",),
         _between("subject_sharpness", SHARP_LOW, SHARP_HIGH),
         ("{subject} is reasonably sharp, if not critically so",
          "focus on {subject} is acceptable but not biting",
          "{subject} holds adequate, though not outstanding, detail"),
         r"reasonably sharp|acceptable but not biting|adequate, though not outstanding"),
    Rule("focus.subject_soft", ("focus",), ("subject_sharpness",),
         lambda v: v["subject_sharpness"] < SHARP_LOW,
         ("{subject} is out of focus", "{subject} looks blurry where it should be sharpest",
          "focus on {subject} is missed, leaving it soft"),
         r"out of focus|looks blurry|focus on .{1,60}? is missed",
         ("focus on the subject itself", "use single-point autofocus on the key detail",
          "refocus and shoot again with a faster shutter"),
         problem=True, weight=2.5),
    Rule("focus.behind", ("focus", "depth_of_field"), ("focus_separation",),
         lambda v: v["focus_separation"] < SEP_MISSED,
         ("the background is sharper than {subject}", "focus has slipped past {subject} onto the background",
          "the sharpest detail is behind {subject}, not on it"),
         r"sharper than|slipped past|sharpest detail is behind",
         ("put the focus point on the subject", "move the focus point onto the subject",
          "focus on the subject, not past it"),
         problem=True, weight=2.0),
    Rule("dof.deep", ("depth_of_field",), ("focus_separation", "background_sharpness"),
         lambda v: SEP_MISSED <= v["focus_separation"] < SEP_SOME and v["background_sharpness"] >= SHARP_LOW,
         ("the depth of field is deep, with the background about as sharp as {subject}",
          "everything from front to back is in focus",
          "a deep depth of field keeps the whole scene equally sharp"),
         r"depth of field is deep|front to back|deep depth of field"),
    # Equal sharpness but a soft background: nothing is sharp, so "deep" would be false.
    Rule("dof.uniform_soft", ("depth_of_field",), ("focus_separation", "background_sharpness"),
         lambda v: SEP_MISSED <= v["focus_separation"] < SEP_SOME and v["background_sharpness"] < SHARP_LOW,
         ("{subject} and the background are equally soft, so nothing sets {subject} apart",
          "no plane of the picture stands apart in sharpness",
          "the whole scene is uniformly soft, with no plane of focus"),
         r"equally soft|no plane of the picture|no plane of focus"),
    Rule("dof.moderate", ("depth_of_field",), ("focus_separation",),
         _between("focus_separation", SEP_SOME, SEP_SHALLOW),
         ("the background is gently softened, separating {subject} a little",
          "a moderate depth of field keeps some background detail while favouring {subject}",
          "the background falls off slightly behind {subject}"),
         r"gently softened|moderate depth of field|falls off slightly"),
    Rule("dof.shallow", ("depth_of_field", "subject_of_photo"), ("focus_separation",),
         lambda v: v["focus_separation"] >= SEP_SHALLOW,
         ("{subject} stands out sharply against a soft background",
          "a shallow depth of field isolates {subject}",
          "the background melts away, so {subject} pops"),
         r"stands out sharply|shallow depth of field|background melts away", weight=2.0),
]
# Each measurement family brings its rules; they come after the core's and the verdicts in ALL_RULES
# (the claim head's targets), so a critic trained before a family was added keeps its indices.
FAMILY_RULES: list[Rule] = [r for family in (light, framing, lines, motion, processing, harmony, settings)
                            for r in family.RULES]
RULES: list[Rule] = CORE + FAMILY_RULES
RULES_BY_ID = {r.id: r for r in RULES}
_PROBLEMS = [r for r in RULES if r.problem]


def _measured_problem_attrs(v: dict) -> list[str]:
    return sorted({n for r in _PROBLEMS for n in r.needs if n in v})


def _problems(v: dict) -> list[Rule]:
    return [r for r in _PROBLEMS if r.holds(v)]


def _judgeable(v: dict) -> bool:
    return len(_measured_problem_attrs(v)) >= VERDICT_MIN_MEASURED


def verdict(faults: int) -> str:
    """The overall verdict for a photo with this many faults (rules with `problem`)."""
    return "overall.strong" if faults == 0 else "overall.mixed" if faults <= 2 else "overall.weak"


def _verdict_is(rule_id: str):
    return lambda v: _judgeable(v) and verdict(len(_problems(v))) == rule_id


# The overall verdict (general_impression only): counts the faults the measurements show. Its
# evidence is every measured attribute a fault could rest on.
VERDICTS: list[Rule] = [
    Rule("overall.strong", ("general_impression",), (), _verdict_is("overall.strong"),
         ("technically this photo of {subject} is very well made",
          "this is a technically accomplished photo of {subject}",
          "this photo of {subject} is technically sound throughout"),
         r"very well made|technically accomplished|technically sound"),
    Rule("overall.mixed", ("general_impression",), (), _verdict_is("overall.mixed"),
         ("this photo of {subject} has real strengths but is held back by a flaw or two",
          "a promising photo of {subject}, with a thing or two to fix",
          "this shot of {subject} mostly works, though it could be improved"),
         r"held back by a flaw|thing or two to fix|mostly works"),
    Rule("overall.weak", ("general_impression",), (), _verdict_is("overall.weak"),
         ("several technical problems hold back this photo of {subject}",
          "this photo of {subject} struggles on a number of technical points",
          "this shot of {subject} needs work on several fronts"),
         r"several technical problems|number of technical points|several fronts"),
]
RULES_BY_ID.update({r.id: r for r in VERDICTS})
ALL_RULES: list[Rule] = CORE + VERDICTS + FAMILY_RULES

# Rules of which at most one can hold (bands of one measurement, or a claim and its negation):
# a critic that predicts claims keeps only its most confident of each group.
EXCLUSIVE: list[tuple[str, ...]] = [
    ("exposure.dark", "exposure.bright", "exposure.good"),
    ("highlights.clipped", "tones.intact"), ("shadows.crushed", "tones.intact"),
    ("sharpness.soft", "sharpness.good"), ("noise.high", "noise.low"),
    ("contrast.low", "contrast.high", "contrast.good"),
    ("colour.muted", "colour.moderate", "colour.vivid"),
    ("colour.warm", "colour.cool", "colour.neutral"), ("colour.cast", "colour.neutral"),
    ("placement.thirds", "placement.off_centre", "placement.loose"),  # thirds and centred can
    ("placement.centred", "placement.off_centre", "placement.loose"),  # both hold (thresholds overlap)
    ("subject.small", "subject.size_good", "subject.large"),
    ("balance.even", "balance.leaning", "balance.lopsided"),
    ("horizon.tilted", "horizon.level"), ("clutter.busy", "clutter.clean"),
    ("focus.subject_sharp", "focus.subject_fair", "focus.subject_soft"),
    ("focus.behind", "dof.deep", "dof.uniform_soft", "dof.moderate", "dof.shallow"),
    ("overall.strong", "overall.mixed", "overall.weak"),
    *(g for family in (light, framing, lines, motion, processing, harmony, settings) for g in family.EXCLUSIVE),
]


# ---- critiques ----------------------------------------------------------------------------------
@dataclass
class Claim:
    aspect: str
    statement: str              # the sentence as it appears in the critique
    evidence: dict[str, float]  # attribute name -> measured value the claim rests on
    rule: str                   # the id of the rule that produced it


@dataclass
class Critique:
    aspect: str
    text: str
    claims: list[Claim] = field(default_factory=list)


def values(attributes: dict) -> dict[str, float]:
    """{name: Attribute | number} -> {name: float}, dropping anything not measured (None, NaN,
    or a horizon reported as "no horizon")."""
    out = {}
    for name, a in attributes.items():
        v = getattr(a, "value", a)
        if v is None or "no horizon" in str(getattr(a, "level", "")).lower():
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            out[name] = v
    return out


def _subject(label: str | None) -> str:
    if not label:
        return "the subject"
    label = label.strip()
    return label if re.match(r"(the|a|an|this|my|our|his|her|their)\s", label, re.IGNORECASE) else f"the {label}"


def _sentence(clause: str) -> str:
    return clause[0].upper() + clause[1:]


def render(rule: Rule, v: dict, phrasing: int, advice: int | None, label: str | None = None) -> str:
    """One sentence: the chosen phrasing, plus the chosen advice when given."""
    return render_slots(rule, {"subject": _subject(label), **rule.fill(v)}, phrasing, advice)


def render_slots(rule: Rule, slots: dict[str, str], phrasing: int, advice: int | None) -> str:
    """The sentence with its slots ({subject}, {ev}, ...) filled as given."""
    text = rule.phrasings[phrasing].format(**slots)
    if advice is not None:
        text += "; " + rule.advice[advice].format(**slots)
    return _sentence(read_well(text)) + "."


def read_well(text: str) -> str:
    """A filled slot read with its phrasing: "taking up about under 1% of it" -> "taking up under 1%
    of it". Restated text too: the bundled critic learned the untidy phrase."""
    return re.sub(r"\b(a)bout (under 1%)", lambda m: ("U" if m.group(1) == "A" else "u") + m.group(2)[1:], text,
                  flags=re.IGNORECASE)


def _evidence(rule: Rule, v: dict) -> dict[str, float]:
    names = rule.needs or tuple(_measured_problem_attrs(v))
    return {n: v[n] for n in names if n in v}


def _claim(rule: Rule, aspect: str, v: dict, rng: random.Random, label, with_advice=True) -> Claim:
    p = rng.randrange(len(rule.phrasings))
    a = rng.randrange(len(rule.advice)) if (with_advice and rule.advice) else None
    return Claim(aspect, render(rule, v, p, a, label), _evidence(rule, v), rule.id)


def chosen(aspect: str, holding: set[str]) -> list[Rule]:
    """The rules an aspect's critique states, in order, given the ids of the rules that hold.
    general_impression: the verdict, then the strongest findings elsewhere by rule weight (the two
    worst faults and the main strength, or the two main strengths of a clean photo). A claim is
    said at most twice in a critique: a rule stated in two aspects is not summarised again."""
    if aspect not in ASPECTS:
        raise ValueError(f"unknown aspect {aspect!r}; expected one of {ASPECTS}")
    if aspect != "general_impression":
        return [r for r in RULES if aspect in r.aspects and r.id in holding]
    fired = sorted((r for r in RULES if r.id in holding and len(r.aspects) == 1),
                   key=lambda r: -r.weight)  # stable: table order
    faults, strengths = [r for r in fired if r.problem], [r for r in fired if not r.problem]
    return [r for r in VERDICTS if r.id in holding] + (faults[:2] + strengths[:1] if faults else strengths[:2])


def critique(attributes: dict, aspect: str, rng: random.Random, label: str | None = None) -> Critique:
    """The aspect's critique: one sentence per rule `chosen` for it on the measured attributes
    (no advice in the general impression: it is a summary)."""
    v = values(attributes)
    holding = {r.id for r in ALL_RULES if r.holds(v)}
    advice = aspect != "general_impression"  # the verdicts have no advice to give either
    claims = [_claim(r, aspect, v, rng, label, with_advice=advice) for r in chosen(aspect, holding)]
    return Critique(aspect, " ".join(c.statement for c in claims), claims)


def critique_all(attributes: dict, rng: random.Random, label: str | None = None) -> dict[str, Critique]:
    return {a: critique(attributes, a, rng, label) for a in ASPECTS}


def targets(attributes: dict) -> list[float]:
    """1.0 or 0.0 per rule of ALL_RULES (in order): whether its claim holds -- the auxiliary
    targets the critic's image tokens are trained to predict (a claim whose attributes were not
    measured does not hold, as in check_claims)."""
    v = values(attributes)
    return [float(r.holds(v)) for r in ALL_RULES]


# ---- the inverse --------------------------------------------------------------------------------
_RECOGNISERS = [(r, re.compile(r.recognise, re.IGNORECASE)) for r in ALL_RULES]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def recognise(sentence: str) -> list[str]:
    """The ids of the rules whose key phrases the sentence contains."""
    return [r.id for r, rx in _RECOGNISERS if rx.search(sentence)]


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def check_claims(text: str, attributes: dict) -> list[tuple[str, bool]]:
    """The claims `text` makes, sentence by sentence, each with whether the measured `attributes`
    back it (a claim whose attributes were not measured does not hold)."""
    v = values(attributes)
    return [(rid, RULES_BY_ID[rid].holds(v)) for s in sentences(text) for rid in recognise(s)]


def claim_map(text: str, attributes: dict) -> list[dict]:
    """check_claims with each claim's evidence: [{"claim", "backed", "evidence": {name: value}}]."""
    v = values(attributes)
    return [{"claim": rid, "backed": RULES_BY_ID[rid].holds(v), "evidence": _evidence(RULES_BY_ID[rid], v)}
            for s in sentences(text) for rid in recognise(s)]


# The slots fill() writes, as they read in a text: (pattern, whether it is a number).
_SLOTS = {"ev": (r"\b\d+(?:\.\d+)? stops?\b", True), "pct": (r"\bunder 1%|\b\d+(?:\.\d+)?%", True),
          "deg": (r"\b\d+(?:\.\d+)? degrees?\b", True), "way": (r"\b(?:rising|falling) to the right\b", False),
          "turn": (r"\bcounter-clockwise\b|(?<!-)\bclockwise\b", False)}
# camera settings from EXIF (measures/settings.py): "1/80 s" or "0.4 s", "f/5.6", "ISO 3200", "200 mm"
_SLOTS.update({"shutter": (r"\b1/\d+ s\b|\b\d+(?:\.\d+)? s\b", True), "aperture": (r"\bf/\d+(?:\.\d+)?", True),
               "iso": (r"\bISO \d+\b", True), "focal": (r"\b\d+ mm\b", True)})


def restate_numbers(text: str, attributes: dict) -> tuple[str, int, int]:
    """`text` with the numbers (and tilt directions) of its recognised claims set to the measured
    ones: a language model guesses "about 12%", the measurement knows 1.3%. -> (text, numbers found,
    numbers that were already as measured). A slot is rewritten only in a sentence where exactly
    one recognised claim fills it, so two percentages in one sentence are left as written."""
    v = values(attributes)
    parts = re.split(r"((?<=[.!?])\s+)", text)  # sentences and the spaces between them, kept
    found = same = 0
    for i in range(0, len(parts), 2):
        fills: dict[str, list[str]] = {}
        for rid in recognise(parts[i]):
            rule = RULES_BY_ID[rid]
            if all(n in v for n in rule.needs):
                for key, val in rule.fill(v).items():
                    fills.setdefault(key, []).append(val)
        for key, vals in fills.items():
            pattern, number = _SLOTS[key]
            if len(vals) != 1:
                continue
            written = re.findall(pattern, parts[i], flags=re.IGNORECASE)
            found += number * len(written)
            same += number * sum(w.lower() == vals[0] for w in written)
            parts[i] = re.sub(pattern, vals[0], parts[i], flags=re.IGNORECASE)
    return read_well("".join(parts)), found, same


def phrasings(rule: Rule, attributes: dict, label: str | None = None) -> list[str]:
    """Every sentence `rule` can produce on `attributes` (each phrasing, with and without each
    advice) -- for tests and for inspecting the teacher's vocabulary."""
    v = values(attributes)
    advice = [None, *range(len(rule.advice))]
    return [render(rule, v, p, a, label) for p in range(len(rule.phrasings)) for a in advice]
