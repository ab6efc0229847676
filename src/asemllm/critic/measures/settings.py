"""Camera settings, read from the photo's EXIF, and the teacher's rules that tie them to what shows.

The camera writes its settings into the Exif IFD (tag 0x8769 of the first IFD): ExposureTime
(33434, seconds), FNumber (33437), ISOSpeedRatings / PhotographicSensitivity (34855),
FocalLength (37386, mm), FocalLengthIn35mmFilm (41989, mm) and Flash (37385, bit 0 = fired)
(CIPA DC-008, "Exif 2.32"). A tag that is missing, zero or not a number (cameras write 0 for
"unknown", e.g. a manual lens with no contacts) is absent: its attribute has no value and no claim
rests on it. A photo without EXIF (stripped by an editor or a web upload) gets no settings claims.

Settings alone say what the camera did, not how the photo came out, so each rule that judges one
also reads a measured attribute of the pixels: a high ISO is blamed only where the measured noise
shows it, a wide aperture praised only where the background really is soft, a slow shutter blamed
only where the frame really is soft.

Focal length: the 35 mm equivalent is taken only from FocalLengthIn35mmFilm. Without it no crop
factor is guessed (the sensor size in FocalPlaneXResolution is written for the camera's own
image width and goes wrong once the file is resized), so `focal_length_35mm` is absent; the shake
risk then uses the actual focal length, a lower bound on the equivalent (sensors are at most
full-frame in nearly all cameras), so a "too slow" claim stays true and merely fires less often.

Controlled edits (`CHECKS`): copies of real photos with EXIF written into them (a JPEG round trip,
as a camera file), with and without the look the settings would leave (sensor noise at ISO 3200, a
blurred background at f/1.8, a directional shake blur at 1/15 s and 200 mm).
"""

from __future__ import annotations

import io
import math

import numpy as np

from ..rule import Rule
from .scene import EditCheck, absent, attribute

INF = math.inf

EXIF_IFD = 0x8769
EXPOSURE_TIME, F_NUMBER, ISO, FOCAL, FOCAL_35, FLASH = 33434, 33437, 34855, 37386, 41989, 37385
SHUTTER_APEX, APERTURE_APEX = 37377, 37378  # APEX Tv, Av: used only where the plain tags are missing

# ---- thresholds (on the attribute values; why each) ---------------------------------------------------
# ISO: up to 400 is base-ISO quality on any camera since ~2005; from 1600 grain becomes a concern
# on APS-C and smaller sensors (the PCCD critiques call 1600-3200 "high"); 6400 and up is very high.
ISO_HIGH = 1600.0
# Noise sigma (0-255 levels, the core `noise` attribute): >= 4 is visible grain.
NOISE_VISIBLE = 4.0
# f-number: f/2.8 or wider is a "fast", wide aperture (shallow depth of field at portrait distances);
# f/8 and smaller is stopped down for depth (landscape practice; diffraction softens from ~f/16).
APERTURE_WIDE, APERTURE_SMALL = 2.8, 8.0
# focus_separation (log2 subject/background sharpness): >= 3 reads as a shallow depth of field, within
# +-1 the planes are equally sharp (the core thresholds, teacher.SEP_*).
SEP_SHALLOW, SEP_EVEN = 3.0, 1.0
# Laplacian variance on the working copy (the core `sharpness`): < 100 soft, >= 500 sharp. A slow
# shutter is blamed where neither the frame nor the subject reaches "sharp" (the reading of detail
# shake takes away: Laplacian variance is content-dependent, so a heavily textured scene stays above
# "soft" even when shaken), and praised where both do.
SHARP_LOW, SHARP_HIGH = 100.0, 500.0
# Shake risk, stops: log2(exposure time x 35-mm-equivalent focal length). The reciprocal rule says
# a hand-held shot is safe at 1/focal s or faster (0 stops); a stop slower (twice as long) is where
# shake becomes likely without stabilisation, so both the shake and the steady-hold claims need >= 1.
SHAKE_RISKY = 1.0
# 35 mm equivalent focal length: under 30 mm is wide angle (24-28 mm is the classic wide); 135 mm
# and longer is telephoto (compression is plain from there).
FOCAL_WIDE, FOCAL_LONG = 30.0, 135.0

LEVELS = {
    # seconds: 1/250 freezes most motion, 1/30 is the hand-held limit with a normal lens, 1 s and longer
    # is a long exposure
    "shutter_speed": ((1 / 250, "fast"), (1 / 30, "moderate"), (1.0, "slow"), (INF, "long exposure")),
    "aperture": ((APERTURE_WIDE + 1e-6, "wide"), (APERTURE_SMALL, "moderate"), (16.0, "small"),
                 (INF, "very small (diffraction)")),
    "iso": ((401.0, "low"), (ISO_HIGH, "moderate"), (6400.0, "high"), (INF, "very high")),
    # the actual focal length means nothing without the sensor size: one level
    "focal_length": ((INF, "as set on the lens"),),
    "focal_length_35mm": ((FOCAL_WIDE, "wide angle"), (70.0, "normal"), (FOCAL_LONG, "short telephoto"),
                          (INF, "telephoto")),
    "flash_fired": ((0.5, "did not fire"), (INF, "fired")),
    "shake_risk": ((0.0, "safe (faster than 1/focal length)"), (SHAKE_RISKY, "marginal"),
                   (3.0, "risky hand-held"), (INF, "needs a tripod")),
}
ABSOLUTE: set = set()

# sanity ranges: outside them a tag is corrupt (e.g. ApertureValue 2^31 for "unknown")
_RANGES = {"shutter_speed": (1e-6, 3600.0), "aperture": (0.5, 256.0), "iso": (1.0, 1e7),
           "focal_length": (0.1, 5000.0), "focal_length_35mm": (1.0, 10000.0)}


# ---- reading ---------------------------------------------------------------------------------------
def exif_tags(photo) -> dict:
    """{tag id: value} of the first IFD and its Exif IFD (the Exif IFD's win); {} without EXIF."""
    try:
        exif = photo.getexif()
        tags = dict(exif)
        tags.update(exif.get_ifd(EXIF_IFD))
    except Exception:  # a corrupt EXIF block is no EXIF
        return {}
    return tags


def _number(value) -> float | None:
    """A tag's value as a float (first of a sequence; rationals with a zero denominator -> None)."""
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    try:
        x = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) else None


def _in_range(name: str, x: float | None) -> float | None:
    lo, hi = _RANGES[name]
    return x if x is not None and lo <= x <= hi else None


def settings(tags: dict) -> dict[str, float | None]:
    """The settings the tags give, None where a tag is missing or unknown (0)."""
    t = _in_range("shutter_speed", _number(tags.get(EXPOSURE_TIME)))
    if t is None and (tv := _number(tags.get(SHUTTER_APEX))) is not None and abs(tv) <= 20:
        t = _in_range("shutter_speed", 2.0 ** -tv)
    n = _in_range("aperture", _number(tags.get(F_NUMBER)))
    if n is None and (av := _number(tags.get(APERTURE_APEX))) is not None and 0 < av <= 16:
        n = _in_range("aperture", math.sqrt(2.0) ** av)
    flash = _number(tags.get(FLASH))
    return {"shutter_speed": t, "aperture": n, "iso": _in_range("iso", _number(tags.get(ISO))),
            "focal_length": _in_range("focal_length", _number(tags.get(FOCAL))),
            "focal_length_35mm": _in_range("focal_length_35mm", _number(tags.get(FOCAL_35))),
            "flash_fired": None if flash is None or flash < 0 else float(int(flash) & 1)}


def shake_risk(shutter: float, focal_35mm: float) -> float:
    """Stops slower than the reciprocal rule's 1/focal s: log2(t x f); > 0 slower, < 0 faster."""
    return math.log2(shutter * focal_35mm)


# ---- how the numbers read in a sentence (total: any float gives a string) ------------------------------
def shutter_text(t: float) -> str:
    """0.0125 -> '1/80 s', 0.4 -> '0.4 s', 2 -> '2 s' (clamped to 1/8000-3600 s)."""
    t = min(max(float(t), 1 / 8000), 3600.0) if math.isfinite(t) else 1 / 60
    return f"1/{round(1 / t)} s" if t < 0.3 else f"{round(t, 1):g} s"


def aperture_text(n: float) -> str:
    """5.6 -> 'f/5.6', 11.0 -> 'f/11' (one decimal below f/10, whole numbers above)."""
    n = min(max(float(n), 0.7), 128.0) if math.isfinite(n) else 5.6
    return f"f/{round(n, 1):g}" if n < 10 else f"f/{round(n)}"


def iso_text(x: float) -> str:
    x = min(max(float(x), 25.0), 1e7) if math.isfinite(x) else 100.0
    return f"ISO {round(x)}"


def focal_text(f: float) -> str:
    f = min(max(float(f), 1.0), 10000.0) if math.isfinite(f) else 50.0
    return f"{round(f)} mm"


def prompt_text(v: dict) -> str | None:
    """The camera settings a photo's EXIF records, as a model trained with `config.settings` reads
    them after its prompt: '1/30 s, f/2.8, ISO 3200, 200 mm, flash' (only what is recorded; the
    focal length as its 35 mm equivalent where known). None without any."""
    def known(name):
        x = v.get(name)
        return x is not None and math.isfinite(float(x))

    parts = [fmt(float(v[name])) for name, fmt in (("shutter_speed", shutter_text), ("aperture", aperture_text),
                                                   ("iso", iso_text)) if known(name)]
    focal = "focal_length_35mm" if known("focal_length_35mm") else "focal_length"
    if known(focal):
        parts.append(focal_text(float(v[focal])))
    if known("flash_fired") and float(v["flash_fired"]) >= 0.5:
        parts.append("flash")
    return ", ".join(parts) or None


def _get(v, name: str, default: float) -> float:
    """v[name], or `default` where it is not measured (the teacher's phrasing tests, the vocabulary grid)."""
    try:
        return float(v[name])
    except (KeyError, TypeError, ValueError):
        return default


def _focal(v) -> float:
    """The focal length a photographer would name: the 35 mm equivalent where known."""
    return _get(v, "focal_length_35mm", _get(v, "focal_length", 50.0))


def _fill_iso(v):
    return {"iso": iso_text(_get(v, "iso", 3200.0))}


def _fill_aperture(v):
    return {"aperture": aperture_text(_get(v, "aperture", 2.8))}


def _fill_shake(v):
    return {"shutter": shutter_text(_get(v, "shutter_speed", 1 / 15)), "focal": focal_text(_focal(v))}


def _fill_focal(v):
    return {"focal": focal_text(_get(v, "focal_length_35mm", 50.0))}


# ---- the measurement ---------------------------------------------------------------------------------
_UNITS = {"shutter_speed": ("s", ".4g"), "aperture": ("f-number", ".1f"), "iso": ("ISO", ".0f"),
          "focal_length": ("mm", ".1f"), "focal_length_35mm": ("mm (35 mm equivalent)", ".0f"),
          "flash_fired": ("0/1", ".0f"), "shake_risk": ("stops", "+.1f")}
_SHOWN = {"shutter_speed": shutter_text, "aperture": aperture_text}


def measure(scene) -> list:
    """The settings from `scene.photo`'s EXIF, each absent where the camera did not record it."""
    found = settings(exif_tags(scene.photo))
    f = found["focal_length_35mm"] or found["focal_length"]
    t = found["shutter_speed"]
    found["shake_risk"] = shake_risk(t, f) if t is not None and f is not None else None
    out = []
    for name, value in found.items():
        unit, fmt = _UNITS[name]
        label = name.replace("_", " ")
        if value is None:
            out.append(absent(name, unit, "not recorded", f"{label}: not in the EXIF"))
            continue
        extra = f" ({_SHOWN[name](value)})" if name in _SHOWN else ""
        if name == "shake_risk":
            used = "35 mm equivalent" if found["focal_length_35mm"] else "actual focal length: no 35 mm equivalent given"
            extra = f" vs 1/focal length ({shutter_text(t)} at {focal_text(f)}, {used})"
        out.append(attribute(name, value, unit, fmt, LEVELS[name], extra))
    return out


# ---- rules (use_of_camera) ---------------------------------------------------------------------------
RULES: list[Rule] = [
    Rule("settings.iso_grain", ("use_of_camera",), ("iso", "noise"),
         lambda v: v["iso"] >= ISO_HIGH and v["noise"] >= NOISE_VISIBLE,
         ("the grain of {iso} shows in the smooth areas",
          "{iso} was too high for this light, and its grain runs across the frame",
          "pushing the sensor to {iso} has left grain all over the picture"),
         r"grain of ISO|too high for this light|pushing the sensor to",
         ("open the aperture or slow the shutter so the ISO can come down",
          "add light, or put the camera on a support and use a slower shutter at a lower ISO",
          "apply gentle noise reduction in editing and keep the ISO lower next time"),
         problem=True, weight=1.0, fill=_fill_iso),
    Rule("settings.iso_clean", ("use_of_camera",), ("iso", "noise"),
         lambda v: v["iso"] >= ISO_HIGH and v["noise"] < NOISE_VISIBLE,
         ("even at {iso} the file stays clean",
          "{iso} costs little here: the grain stays in check",
          "the camera copes well with {iso}, keeping the image smooth"),
         r"even at ISO|grain stays in check|copes well with ISO", weight=0.5, fill=_fill_iso),
    Rule("settings.wide_open", ("use_of_camera", "depth_of_field"), ("aperture", "focus_separation"),
         lambda v: v["aperture"] <= APERTURE_WIDE and v["focus_separation"] >= SEP_SHALLOW,
         ("shooting wide open at {aperture} turns the background into soft bokeh",
          "the wide aperture of {aperture} lets the background fall into a soft blur behind {subject}",
          "at {aperture} the background dissolves into bokeh"),
         r"wide open at|wide aperture of|dissolves into bokeh", weight=1.0, fill=_fill_aperture),
    Rule("settings.stopped_down", ("use_of_camera", "depth_of_field"),
         ("aperture", "focus_separation", "background_sharpness"),
         lambda v: (v["aperture"] >= APERTURE_SMALL and -SEP_EVEN <= v["focus_separation"] < SEP_EVEN
                    and v["background_sharpness"] >= SHARP_LOW),
         ("stopping down to {aperture} carries the sharpness through the whole scene",
          "the small aperture, {aperture}, keeps near and far detail alike",
          "an aperture of {aperture} was a sound choice for depth: the scene is detailed throughout"),
         r"stopping down to|small aperture|sound choice for depth", weight=0.5, fill=_fill_aperture),
    Rule("settings.shake", ("use_of_camera", "focus"),
         ("shutter_speed", "shake_risk", "sharpness", "subject_sharpness"),
         lambda v: v["shake_risk"] >= SHAKE_RISKY and v["sharpness"] < SHARP_HIGH and v["subject_sharpness"] < SHARP_HIGH,
         ("a shutter of {shutter} is too slow to hand-hold at {focal}, and the detail has lost its edge",
          "hand-holding {shutter} at {focal} has let camera movement smear the fine detail",
          "at {shutter} and {focal} the shutter was too slow to hold steady, so the detail lacks bite"),
         r"too slow to hand-hold|hand-holding|too slow to hold steady",
         ("use a tripod, or raise the ISO for a shutter at least as fast as one over the focal length",
          "switch on image stabilisation or rest the camera on something solid",
          "pick a faster shutter speed and open the aperture to keep the exposure"),
         problem=True, weight=1.5, fill=_fill_shake),
    Rule("settings.braced", ("use_of_camera",),
         ("shutter_speed", "shake_risk", "sharpness", "subject_sharpness"),
         lambda v: v["shake_risk"] >= SHAKE_RISKY and v["sharpness"] >= SHARP_HIGH and v["subject_sharpness"] >= SHARP_HIGH,
         ("even at {shutter} with a {focal} lens nothing has moved, so the camera was well braced",
          "the exposure of {shutter} at {focal} is slow, yet the detail holds: the tripod or steady hold paid off",
          "a steady camera kept {shutter} at {focal} free of shake"),
         r"well braced|steady hold paid off|free of shake", weight=0.5, fill=_fill_shake),
    Rule("settings.flash", ("use_of_camera",), ("flash_fired",),
         lambda v: v["flash_fired"] >= 0.5,
         ("the flash fired for this shot, lighting the scene from the camera",
          "the light here comes from the flash on the camera",
          "flash was used for this exposure"),
         r"flash fired|from the flash|flash was used", weight=0.3),
    Rule("settings.telephoto", ("use_of_camera",), ("focal_length_35mm",),
         lambda v: v["focal_length_35mm"] >= FOCAL_LONG,
         ("the long {focal} lens compresses the distance between near and far",
          "at {focal} the telephoto view flattens the perspective",
          "the {focal} focal length pulls the scene in and stacks its planes together"),
         r"compresses the distance|telephoto view|stacks its planes", weight=0.3, fill=_fill_focal),
    Rule("settings.wide_angle", ("use_of_camera",), ("focal_length_35mm",),
         lambda v: v["focal_length_35mm"] < FOCAL_WIDE,
         ("the wide {focal} view takes in the whole setting",
          "at {focal} the wide-angle lens stretches the space and enlarges the foreground",
          "the {focal} wide angle opens up the space around {subject}"),
         r"takes in the whole setting|wide-angle lens stretches|wide angle opens up", weight=0.3, fill=_fill_focal),
]
EXCLUSIVE: list = [("settings.iso_grain", "settings.iso_clean"), ("settings.wide_open", "settings.stopped_down"),
                   ("settings.shake", "settings.braced"), ("settings.telephoto", "settings.wide_angle")]


# ---- controlled edits ---------------------------------------------------------------------------------
def with_exif(image, tags: dict, quality: int = 95):
    """A JPEG copy of `image` (PIL RGB) carrying exactly `tags` ({tag id: value}) in its Exif IFD,
    as a camera file would: encoded and read back, so what is measured is what a reader sees."""
    from PIL import Image

    exif = Image.Exif()
    ifd = exif.get_ifd(EXIF_IFD)
    ifd.update(tags)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality, exif=exif)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def sensor_noise(image, sigma: float, rng):
    """Gaussian noise of `sigma` levels (0-255) per channel, as a high ISO adds."""
    from PIL import Image

    g = np.random.default_rng(rng.randrange(2 ** 32))
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return Image.fromarray(np.clip(rgb + g.normal(0.0, sigma, rgb.shape), 0, 255).round().astype(np.uint8))


def background_blur(image, saliency, radius: float, mass: float = 0.5):
    """A wide aperture's look: a Gaussian blur of `radius` px outside the region holding `mass` of the
    saliency (the subject), blended through a mask feathered by a quarter of the radius."""
    from PIL import Image, ImageFilter
    from scipy.ndimage import gaussian_filter

    from .scene import subject_mask

    sal = np.asarray(saliency, dtype=np.float64)
    if sal.shape != (image.height, image.width):
        sal = np.asarray(Image.fromarray(sal.astype(np.float32), mode="F").resize(image.size, Image.BOX))
    keep = gaussian_filter(subject_mask(np.clip(sal, 0, None), mass).astype(np.float32), max(1.0, radius / 4))[..., None]
    sharp = np.asarray(image.convert("RGB"), dtype=np.float32)
    soft = np.asarray(image.convert("RGB").filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
    return Image.fromarray((keep * sharp + (1 - keep) * soft).round().clip(0, 255).astype(np.uint8))


def shake_blur(image, length: float, rng, turn: float = 50.0):
    """Hand-held camera shake: the mean of the photo shifted along a random path of `length` px (unit
    steps, each turning from the last by a Gaussian angle of sd `turn` degrees; the smooth, curving
    trajectories of Boracchi & Foi 2012), edges repeated."""
    from PIL import Image

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    n = max(2, int(round(length)))
    heading = rng.uniform(0.0, 2 * math.pi)
    x = y = 0.0
    path = [(0.0, 0.0)]
    for _ in range(n - 1):
        heading += math.radians(rng.gauss(0.0, turn))
        x, y = x + math.cos(heading), y + math.sin(heading)
        path.append((x, y))
    mx, my = sum(p[0] for p in path) / n, sum(p[1] for p in path) / n
    shifts = [(int(round(px - mx)), int(round(py - my))) for px, py in path]
    pad = max(max(abs(dx), abs(dy)) for dx, dy in shifts) + 1
    big = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = rgb.shape[:2]
    acc = np.zeros_like(rgb)
    for dx, dy in shifts:
        acc += big[pad + dy:pad + dy + h, pad + dx:pad + dx + w]
    return Image.fromarray((acc / n).round().clip(0, 255).astype(np.uint8))


# what the edits write (a 1024-px copy: the blur sizes are for that scale)
NOISY_ISO, NOISE_SIGMA = 3200, 10.0
WIDE_F, BOKEH_RADIUS = 1.8, 6.0
SMALL_F = 11.0
SLOW_T, LONG_FOCAL, SHAKE_PX = 1 / 15, 200, 20.0
# a few 1/1000 s of rounding: the value read back is what was written
_SAME = 1e-6


def _reads(name: str, written: float):
    return lambda before, after: name in after and abs(after[name] - written) <= _SAME * max(1.0, abs(written))


def _shake_reads(before, after):
    return (_reads("shutter_speed", SLOW_T)(before, after) and _reads("focal_length_35mm", LONG_FOCAL)(before, after)
            and "shake_risk" in after and abs(after["shake_risk"] - shake_risk(SLOW_T, LONG_FOCAL)) < 1e-6)


def _slow_tags():
    from fractions import Fraction

    from PIL.TiffImagePlugin import IFDRational

    t = Fraction(SLOW_T).limit_denominator(100000)
    return {EXPOSURE_TIME: IFDRational(t.numerator, t.denominator), FOCAL: IFDRational(LONG_FOCAL, 1),
            FOCAL_35: LONG_FOCAL}


CHECKS = [
    EditCheck("ISO 3200 and its noise",
              lambda im, sal, rng: with_exif(sensor_noise(im, NOISE_SIGMA, rng), {ISO: NOISY_ISO}),
              _reads("iso", NOISY_ISO), ("settings.iso_grain",)),
    EditCheck("ISO 3200 on a clean photo", lambda im, sal, rng: with_exif(im, {ISO: NOISY_ISO}),
              _reads("iso", NOISY_ISO), ("settings.iso_clean",),
              applies=lambda b: b["noise"] < NOISE_VISIBLE),
    EditCheck("f/1.8 and a blurred background",
              lambda im, sal, rng: with_exif(background_blur(im, sal, BOKEH_RADIUS), {F_NUMBER: WIDE_F}),
              _reads("aperture", WIDE_F), ("settings.wide_open",)),
    EditCheck("f/11 on a photo sharp throughout", lambda im, sal, rng: with_exif(im, {F_NUMBER: SMALL_F}),
              _reads("aperture", SMALL_F), ("settings.stopped_down",),
              applies=lambda b: -SEP_EVEN <= b["focus_separation"] < SEP_EVEN and b["background_sharpness"] >= SHARP_LOW),
    EditCheck("1/15 s at 200 mm and camera shake",
              lambda im, sal, rng: with_exif(shake_blur(im, SHAKE_PX, rng), _slow_tags()),
              _shake_reads, ("settings.shake",)),
    EditCheck("1/15 s at 200 mm on a sharp photo", lambda im, sal, rng: with_exif(im, _slow_tags()),
              _shake_reads, ("settings.braced",),
              applies=lambda b: b["sharpness"] >= SHARP_HIGH and b["subject_sharpness"] >= SHARP_HIGH),
    EditCheck("flash fired", lambda im, sal, rng: with_exif(im, {FLASH: 1}),
              _reads("flash_fired", 1.0), ("settings.flash",)),
]
