"""How much of what photographers talk about the critic's vocabulary covers.

PCCD's critiques (validation + test, all seven aspects) are split into sentences (`split_sentences`)
and each sentence is tagged with the topics it speaks of by keyword patterns (`tag`, the table
`TOPICS`). A topic is *covered* when the teacher has at least one rule that speaks of it: each topic
names the rule ids that would (regexes matched at the start of `asemllm.critic.teacher.ALL_RULES`'
ids, mostly family prefixes such as ``light.``), so the coverage follows the teacher as rule
families are added, with nothing to edit here.

Counted per sentence: ``covered`` if it touches at least one covered topic; ``uncovered_only`` if it
touches measurable topics but none of them is covered. The topics of mood, story and the moment are
tagged too but marked beyond measurement: they count in neither share (a sentence that speaks only of
them is neither covered nor uncovered_only).

The tagger is a keyword tagger, not a reader: a topic's patterns are matched on the sentence after
its ``mask`` phrases are blanked out (so "white balance" is not balance, "focal length" is not focus,
"soft light" is not softness). Its precision was checked by hand on a seeded sample
(tests/critic/coverage_judged.json, docs/MEASUREMENTS.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ASPECTS = ("general_impression", "subject_of_photo", "composition", "use_of_camera",
           "depth_of_field", "color_lighting", "focus")
FILES = ("guru_validation", "guru_test")

# ---- sentences ------------------------------------------------------------------------------------
# A sentence ends at a run of . ! ? (closing quotes or brackets may follow) before whitespace, at a
# line break, or at . ! ? directly followed by a capitalised word or "I " (critiques often lose the
# space: "well done.The colours"). Not after the few abbreviations critiques use ("e.g. the"), nor inside
# numbers ("f/2.8", "1.5 stops"). Pieces without a letter ("!!!", "8/10") are dropped.
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "mr.", "mrs.", "ms.", "dr.", "st.", "no.")
_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\s*\n\s*|(?<=[.!?])(?=[A-Z][a-z]|I\s)")


def split_sentences(text: str) -> list[str]:
    """The sentences of a critique, in order (see the rules above)."""
    out: list[str] = []
    pending = ""
    start = 0
    text = (text or "").strip()
    for m in _END.finditer(text):
        piece = text[start:m.start()] + text[m.start():m.end()].rstrip()
        start = m.end()
        words = piece.split()
        if "\n" not in m.group() and words and words[-1].lower() in _ABBREVIATIONS:
            pending += piece + " "
            continue
        out.append((pending + piece).strip())
        pending = ""
    out.append((pending + text[start:]).strip())
    return [s for s in out if re.search(r"[A-Za-z]", s)]


# ---- topics ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Topic:
    """A subject of critique: its keyword patterns, the phrases blanked before matching them, and the
    rule ids (regexes matched at an id's start) of the teacher's rules that speak of it."""

    name: str
    label: str
    patterns: str
    rules: tuple[str, ...] = ()
    mask: str = ""
    beyond: bool = False  # beyond measurement: tagged, but counted in neither share

    def matches(self, sentence: str) -> bool:
        text = _MASKS[self.name].sub(" ", sentence) if self.mask else sentence
        return bool(_PATTERNS[self.name].search(text))


_COLOUR = r"colou?rs?"
_HUES = r"(?:warm|cool|cold|skin|colou?r|blue|green|red|yellow|earth|earthy|pastel|golden|orange|brown|purple|pink|" \
        r"muted|sepia|neutral|natural|rich|vibrant|saturated)"

TOPICS: tuple[Topic, ...] = (
    # -- what the core rules measure --
    Topic("exposure", "exposure and tones",
          r"\b(?:under|over|well[- ]|correctly |properly )?expos(?:ure|ed|ing|e)\b|\bhighlights?\b|\bblown\b|"
          r"\bburn(?:ed|t)[- ]out\b|\bclipp(?:ed|ing)\b|\bdynamic range\b|\bhistogram\b|\btonal\b|\btones?\b|"
          r"\bmid-?tones?\b|\bcrushed\b|\bblock(?:ed)? up\b|\b(?:too|very|quite|rather|bit|little|slightly|overly) "
          r"(?:dark|bright)\b|\bbrightness\b|\b(?:darker|brighter)\b|\bshadow detail\b|"
          r"\bdetail in the (?:shadows|highlights)\b|\blow[- ]key\b|\bhigh[- ]key\b|\bwashed[- ]out\b",
          rules=(r"exposure\.", r"highlights\.", r"shadows\.", r"tones\."),
          mask=rf"\b{_HUES} tones?\b|\btones? of (?:{_HUES}|{_COLOUR})\b|\bexposure (?:time|compensation|settings?)\b|"
               r"\blong[- ]exposure\b|\bdouble[- ]exposure\b|\bmultiple[- ]exposures?\b|\bhighlights? (?:the|your|this|a)\b|"
               rf"\btones? (?:are|is) (?:all |very |quite |mostly )?{_HUES}\b|\bduring (?:the )?exposure\b"),
    Topic("contrast", "contrast",
          r"\bcontrast(?:y|s|ed|ing)?\b|\bpunch(?:y)?\b|\b(?:looks?|looking|bit|little|rather|quite|too|very|"
          r"somewhat|slightly|appears?|seems?) flat\b|\bflat (?:image|look|light|lighting|tones?|sky)\b",
          rules=(r"contrast\.",),
          mask=rf"\b{_COLOUR} contrast\b|\bcontrast(?:ing)? (?:\w+ )?{_COLOUR}\b|\bcontrasts? (?:\w+ ){{0,2}}with\b|"
               r"\bcomposition (?:is |looks )?(?:\w+ ){0,2}flat\b"),
    Topic("colour", "colour amount and rendition (saturation, vividness, monochrome)",
          rf"\b{_COLOUR}(?:ful)?\b|\bsaturat\w*|\bdesaturat\w*|\bvibran\w*|\bvivid\b|\bmuted\b|\bpastels?\b|"
          r"\bblack (?:and|&) white\b|\bb ?& ?w\b|\bmonochrom\w*|\bgr[ae]yscale\b|\bsepia\b|\bhues?\b",
          rules=(r"colour\.(?:muted|moderate|vivid)",),
          mask=r"\bcolou?r (?:cast|temperature|balance|harmony|scheme|combination|palette|contrast)s?\b|"
               rf"\bcolou?r_lighting\b|\b{_COLOUR} (?:work|go|blend|match|complement)\w* (?:\w+ )?together\b|"
               r"\bover-?saturat\w*|\bcomplementary colou?rs?\b|\bcolou?r noise\b"),
    Topic("white_balance", "white balance, colour cast, warm or cool",
          r"\bwhite balance\b|\bWB\b|\bcolou?r cast\b|\bcast\b|\btint(?:ed|s)?\b|\bwarm(?:th|er|ly)?\b|"
          r"\bcool(?:er)? (?:tones?|colou?rs?|light|blue|feel|cast|hues?|palette)\b|\bwarm and cool\b|"
          r"\bcold (?:tones?|colou?rs?|light|blue|feel|cast|hues?)\b|\bcolou?r temperature\b|\bkelvin\b|"
          r"\b(?:yellowish|bluish|greenish|magenta|orange cast|blue cast)\b",
          rules=(r"colour\.(?:warm|cool|cast|neutral)",),
          mask=r"\bcast(?:s|ing)? (?:a |long |strong |deep |hard |soft )?shadows?\b|\bwarm (?:welcome|feeling|heart|"
               r"weather|day|clothes|clothing)\b"),
    Topic("sharpness", "sharpness and focus",
          r"\bsharp\w*|\bunsharp\b|\bfocus\w*|\bout of focus\b|\bOOF\b|\bblurr?\w*|\bsoft(?:ness)?\b|\bcrisp\w*|"
          r"\bfuzzy\b|\bcamera shake\b|\bfine detail\b",
          rules=(r"sharpness\.", r"focus\."),
          mask=r"\bfocal (?:point|length)s?\b|\b(?:main |real |the |your |a |central |primary )focus (?:of|is on|on) "
               r"(?:the |this |your |attention|interest)\b|\bfocus of (?:attention|interest)\b|\bmotion blurr?\w*|"
               r"\bblurr?(?:ed|y)? (?:the )?background\b|\bbackground (?:is |was )?(?:nicely |well |beautifully )?"
               r"blurr?\w*|\bsoft (?:light|lighting|shadows?|tones?|colou?rs?|glow|pastels?|box|curves?|bending|lines?|"
               r"shapes?)\b|\bbackground (?:\w+ ){0,3}blurr?\w*|\b(?:vision|attention|eyes?|viewer) (?:is |are )?"
               r"(?:\w+ )?focus\w*|\bhelps? (?:to )?focus\b|\bsharp (?:bend|turn|corner|angle)s?\b|"
               r"\bover-?sharpen\w*|\bsharpening\b|\bmanual focus\b|\bauto-?focus\w*"),
    Topic("noise", "noise and grain",
          r"\bnois[ey]\w*|\bgrain(?:y|iness)?\b|\bdenois\w*", rules=(r"noise\.",)),
    Topic("dof", "depth of field",
          r"\bdepth[- ]of[- ]field\b|\bDO?F\b|\bbokeh\b|\bshallow\b|\bblurr?(?:ed|y)? (?:the )?background\b|"
          r"\bbackground (?:is |was )?(?:nicely |well |beautifully )?(?:blurr?\w*|out of focus|soft)\b|"
          r"\b(?:isolat|separat)\w*[^.]{0,40}\bbackground\b|\bsubject (?:isolation|separation)\b|\bisolat\w* "
          r"(?:the |your )?subject\b|\bseparation\b|\bbackground (?:\w+ ){0,3}blurr?\w*|\bin focus from\b|"
          r"\bfront to back\b|\bfocus plane\b|\bplane of focus\b",
          rules=(r"dof\.", r"focus\.behind"),
          mask=r"\bseparate (?:shot|image|photo|picture)s?\b"),
    Topic("placement", "subject placement (thirds, centre)",
          r"\bthirds?\b|\bcent(?:er|re)(?:e?d)\b|\b(?:in|to|on) the (?:dead )?cent(?:er|re)\b|\bcent(?:er|re) of "
          r"the (?:frame|image|picture|photo|shot|composition)\b|\bcentral (?:placement|position|composition)\b|"
          r"\bdead cent(?:er|re)\b|\bmiddle of the (?:frame|image|picture|photo|shot)\b|"
          r"\boff-?cent(?:er|re)\b|\bplacement\b|\b(?:plac|position)(?:ed|ing)? (?:\w+ ){0,4}(?:in|on|at|to|"
          r"towards) the (?:frame|left|right|cent(?:er|re)|middle|top|bottom|thirds?|corner|edge|side)\b|"
          r"\bposition in the frame\b|"
          r"\bgolden (?:ratio|spiral|mean|section)\b|\bbull'?s-?eye\b",
          rules=(r"placement\.",),
          mask=r"\b(?:camera|shooting|your|my|low|high|different|lower|higher) position\b|\bcent(?:er|re) of "
               r"(?:attention|interest)\b|\bthird (?:time|one|image|photo|picture|place)\b|\bcentral (?:subject|theme|"
               r"idea|point)\b"),
    Topic("balance", "visual balance",
          r"\bbalanc\w*|\bvisual weight\b|\blop-?sided\b|\b(?:heavy|weighted) (?:on|to(?:wards)?) the\b|\bimbalance\b",
          rules=(r"balance\.",),
          mask=r"\bwhite balanc\w*|\bcolou?r balanc\w*|\bbalanc\w* (?:\w+ ){0,2}(?:in |of |between )?(?:the )?"
               r"(?:exposure|light|lighting|tones|highlights|shadows|colou?rs?)\b"),
    Topic("subject_size", "subject size in the frame",
          r"\bfill(?:s|ed|ing)? (?:the|your|up the) (?:frame|image|picture)\b|\b(?:too|rather|quite) "
          r"(?:small|tiny|big|large)\b(?! (?:aperture|image|file|print|sensor|range|version|size|resolution))|\bsmall (?:in|within) the frame\b|\bgets? lost\b|\b(?:get|getting|move|moving|"
          r"come|step|go) closer\b|\bcloser to (?:the|your) subject\b|\bzoom(?:ed|ing)? in\b|\bsubject size\b",
          rules=(r"subject\.",)),
    Topic("horizon", "horizon and tilt",
          r"\bhorizons?\b|\btilt\w*|\bcrooked\b|\bslant\w*|\bstraighten\w*|\bun-?level\b|\boff-?level\b|"
          r"\b(?:is|isn't|not|be|are|aren't|looks?|perfectly) (?:quite |perfectly |completely )?(?:level|straight)\b",
          rules=(r"horizon\.",),
          mask=r"\bstraight ?forward\w*|\bslant\w* (?:\w+ )?light\b|\b(?:below|above|towards?|to|over) (?:the|that) "
               r"horizon\b"),
    Topic("symmetry", "symmetry", r"\bsymmetr\w*|\basymmetr\w*|\bmirror image\b", rules=(r"symmetry\.",)),
    Topic("clutter", "clutter and background",
          r"\bclutter\w*|\bbusy\b|\bdistract\w*|\bmessy\b|\bcompet(?:e|es|ing)\b|\bsimplicity\b|\bsimplif\w*|"
          r"\buncluttered\b|\bminimalis\w*|\b(?:clean|simple|plain|neutral|black|dark|white|uniform|nice|great|"
          r"good|perfect) background\b|\bbackground (?:is|was) (?:clean|simple|plain|busy|dark|black|nice|great|"
          r"perfect|good)\b|\bbackground elements?\b",
          rules=(r"clutter\.",)),
    # -- what the new families measure --
    Topic("light", "light: direction and quality (back, side, hard, soft, flash, shadows, silhouettes)",
          r"\blight(?:ing)?\b|\blit\b|\bback-?lit\b|\bback-?light\w*|\bside-?l(?:ight\w*|it)\b|\brim[- ]light\w*|"
          r"\bdirectional\b|\bdiffuse\w*|\bovercast\b|\bcloudy\b|\bsun(?:light|lit|ny|shine)?\b|\bflash\w*|"
          r"\bstrobe\w*|\bshadows?\b|\bsilhouett\w*|\billuminat\w*|\bglow\w*|\bspot-?light\w*|\bambient\b|"
          r"\breflector\b|\bcatch-?lights?\b|\bharsh\b",
          rules=(r"light\.",),
          mask=r"\blight (?:blue|green|red|yellow|pink|purple|brown|grey|gray|tones?|colou?rs?|touch|weight)\b|"
               r"\bin (?:the )?light of\b|\bshadow (?:detail|areas)\b|\bdetail in the shadows\b|\bshadows? "
               r"(?:are |is )?(?:crushed|blocked|clipped|lifted|recovered)\b|\b(?:lift|open|recover)\w* (?:up )?"
               r"the shadows\b|\bhighlights and shadows\b|\bshadows and highlights\b|\bcolou?r_lighting\b|"
               r"\bin the shadows\b|\b(?:dull|deep|dark|open) shadows\b|\benough light\b|\blight stands?\b"),
    Topic("time_of_day", "time of day: golden and blue hour",
          r"\bgolden (?:hour|light)\b|\bblue hour\b|\bmagic hour\b|\bsun-?(?:set|rise)s?\b|\bdusk\b|\bdawn\b|"
          r"\btwilight\b|\btime of (?:the )?day\b|\b(?:early |late )?(?:morning|evening|afternoon) (?:light|sun)\b|"
          r"\b(?:early|late) (?:morning|evening|afternoon|in the day)\b|\bmid-?day\b|\bnoon\b",
          rules=(r"light\.\w*(?:golden|blue_hour|hour|sun|time|day|dusk|dawn)",)),
    Topic("settings", "camera settings (shutter, aperture, ISO, lens, focal length, tripod)",
          r"\bshutter\b|\baperture\w*|\bf ?/ ?\d|\bf-?\d+(?:\.\d)?\b|\bf-?stops?\b|\bstop(?:ped|ping)? down\b|"
          r"\bISO\b|\blens(?:es)?\b|\bfocal length\b|\b\d+ ?mm\b|\btripod\b|\bexposure (?:time|compensation|"
          r"settings?)\b|\bbracket\w*|\bmetering\b|\bsettings?\b|\bhand-?held\b|\bwide-?angle\b|\btelephoto\b|"
          r"\b1/\d{2,}\b|\b(?:polari[sz]\w*|ND|neutral density|graduated|grad) filters?\b|\bauto-?focus\w*|"
          r"\bmanual (?:focus|mode)\b|\bzoom\b|\b(?:in|shoot\w*|shot) (?:in )?RAW\b|\bRAW (?:files?|format|mode)\b",
          rules=(r"settings\.",),
          mask=r"\bsetting sun\b|\bsun setting\b|\blens[- ]flares?\b|\bsettings? (?:of|for) the (?:scene|story)\b"),
    Topic("motion", "motion and shutter (blur, freezing, panning, long exposure)",
          r"\bmotion\b|\bmovement\b|\bmoving\b|\bfr(?:eez\w*|ozen)\b|\bpann(?:ed|ing)\b|\blong[- ]exposures?\b|"
          r"\bslow (?:shutter|shutter speed)\b|\bsilky\b|\bmilky\b|\bsmooth (?:water|effect|look)\b|"
          r"\blight trails?\b|\bstreak\w*|\baction (?:shots?|photography|photos?)\b|\bfreeze the action\b|"
          r"\bfast[- ]moving\b|\bin mid-?air\b",
          rules=(r"motion\.",),
          mask=r"\b(?:eye|eyes) moving\b|\bmovement of the eyes?\b|\bmoving (?:the|your) (?:camera|eye)\b|"
               r"\bmoving (?:to the )?(?:left|right|closer)\b|\bmovement (?:of|through|in|around) (?:the )?(?:eye|flow|"
               r"viewer|image|frame|picture|composition)\b|\bevery movement\b|\bfreezing (?:cold|weather|"
               r"temperatures?|site|day)\b"),
    Topic("lines", "lines, shapes and perspective",
          r"\blines?\b|\bdiagonal\w*|\bcurv(?:e|es|ed|ing|y)\b|\bS-curve\b|\bverticals?\b|\bconverg\w*|"
          r"\bvanishing point\b|\bkeystone\w*|\bperspective (?:distortion|lines|correction|control)\b|"
          r"\bforced perspective\b|\bdistort\w*|\bgeometr\w*|\bshapes\b|\bpatterns?\b|\bsense of depth\b|"
          r"\b(?:adds?|gives?|creates?|lacks?) (?:\w+ )?depth\b",
          rules=(r"lines\.",),
          mask=r"\bhorizon lines?\b|\bline of sight\b|\bin line with\b|\bvertical (?:format|orientation|shot|"
               r"image|frame)\b|\bfine line\b|\bbottom line\b|\bcurve(?:s)? (?:adjustment|tool|layer)s?\b|"
               r"\bS-curve (?:adjustment|in (?:post|editing))\b|\bdepth of field\b|\blevels (?:or|and|&) curves\b|"
               r"\bcurves (?:or|and|&) levels\b"),
    Topic("framing", "framing and cropping (edges, cut-offs, room, format)",
          r"\bcrop\w*|\bframing\b|\bframed\b|\bre-?fram\w*|\bcut(?:s|ting)? off\b|\bchopped\b|\bamputat\w*|"
          r"\b(?:too )?(?:tight|tightly)\b|\bbreathing (?:room|space)\b|\bhead-?room\b|\b(?:more|less|some|"
          r"little|enough|too much) (?:room|space)\b|\bnegative space\b|\bempty space\b|\bedges? of the (?:frame|"
          r"image|picture|photo|shot)\b|\b(?:left|right|top|bottom|upper|lower|frame|image) edges?\b|\b(?:near|at|"
          r"to|along) the edges?\b|\bborders?\b|"
          r"\baspect ratio\b|\b(?:square|panoramic|portrait|landscape|vertical|horizontal) (?:format|orientation|"
          r"crop)\b|\bpanoram\w*|\bnatural frame\b|\bframe within a frame\b",
          rules=(r"framing\.",),
          mask=r"\btight (?:deadline|budget)\b|\bedge to edge\b"),
    Topic("processing", "post-processing (edits, vignettes, HDR, overdone saturation, halos)",
          r"\bpost-?process\w*|\bprocess(?:ed|ing)\b|\bedit(?:ed|ing|s)?\b|\bphotoshop\w*|\blightroom\b|"
          r"\bvignett\w*|\bHDR\b|\bover-?done\b|\bover-?process\w*|\bover-?saturat\w*|\bover-?sharpen\w*|"
          r"\bhalos?\b|\bclon(?:e|ed|ing)\b|\bretouch\w*|\bfilters?\b|\bdodg\w*|\bburning\b|\btone-?mapp\w*|"
          r"\bnoise reduction\b|\bsharpening\b|\bartifacts?\b|\bartefacts?\b|\bpresets?\b|\bconversion\b|"
          r"\bin post\b|\bPP\b|\bpost work\b|\btextur(?:e|ing) (?:filter|overlay)s?\b|\bselective colou?r\w*",
          rules=(r"processing\.",),
          mask=r"\b(?:polari[sz]\w*|ND|neutral density|graduated|grad|UV) filters?\b"),
    Topic("harmony", "colour harmony and palette",
          r"\bharmon\w*|\bcomplementary\b|\bpalette\b|\bcolou?r (?:scheme|combination|contrast)s?\b|"
          rf"\b{_COLOUR} (?:work|go|blend|match|complement)\w* (?:\w+ )?together\b|\banalogous\b|\bclash\w*|"
          r"\bcolou?r (?:harmony|palette)\b|\bcontrasting colou?rs?\b",
          rules=(r"harmony\.",)),
    Topic("viewpoint", "viewpoint and camera angle",
          r"\bangles?\b|\bpoint of view\b|\bview-?point\b|\bvantage\b|\bPOV\b|\bperspective\b|\beye[- ]level\b|"
          r"\b(?:low|high|lower|higher|different) (?:position|viewpoint)\b|\bfrom (?:above|below|the side|behind)\b|"
          r"\bbird'?s[- ]eye\b|\bworm'?s[- ]eye\b|\bget(?:ting)? (?:down|low|lower)\b|\bkneel\w*|\bcrouch\w*|"
          r"\bground level\b|\bcamera (?:position|height)\b|\bshooting position\b|\boverhead\b|\btop-?down\b",
          rules=(r"\w+\.(?:viewpoint|vantage|camera_angle|low_angle|high_angle|eye_level|point_of_view|pov|"
                 r"from_above|from_below|birds_eye|worms_eye)",),
          mask=r"\bwide[- ]?angles?\b|\bangle of (?:the )?(?:light|sun)\b|\bperspective (?:distortion|lines|"
               r"correction|control)\b|\bforced perspective\b|\b(?:on|at) an angle\b|\b(?:low|high)[- ]angle "
               r"(?:sun|sunlight|light)\b|\bsense of perspective\b|\bout of perspective\b|\bflat perspective\b|"
               r"\blines and perspective\b|\bfrom (?:a|an|my|the) (?:\w+ )?(?:perspective|point of view)\b"),
    # -- beyond measurement: tagged, counted in neither share --
    Topic("mood", "mood, story and the moment (beyond measurement)",
          r"\bmood\w*|\batmospher\w*|\bemotion\w*|\bstor(?:y|ies|ytelling)\b|\bnarrative\b|\bmoment\b|"
          r"\bdecisive\b|\btiming\b|\btension\b|\bdrama\b|\bmyster\w*|\bseren\w*|\btranquil\w*|\bpeaceful\w*|"
          r"\bcalm\w*|\bromantic\b|\bnostalg\w*|\bevocative\b|\bwhimsical\b|\bmelanchol\w*|\bloneliness\b|"
          r"\bsolitude\b|\bhumou?r\w*|\bfunny\b|\bexpressions?\b|\bgestures?\b|\binteraction\b|\bfeeling\b|"
          r"\bsense of (?:calm|peace|mystery|wonder|place|scale|loneliness|isolation|drama|humou?r)\b|\bmessage\b|"
          r"\bconvey\w*|\bevok\w*|\bmeaning\w*",
          mask=r"\bI (?:have|had|get|got) a feeling\b|\bmoment I\b|\bat the moment\b|\bmoment of the day\b",
          beyond=True),
)
TOPICS_BY_NAME = {t.name: t for t in TOPICS}
_PATTERNS = {t.name: re.compile(t.patterns, re.IGNORECASE) for t in TOPICS}
_MASKS = {t.name: re.compile(t.mask, re.IGNORECASE) for t in TOPICS if t.mask}


def tag(sentence: str) -> list[str]:
    """The names of the topics a sentence speaks of, in TOPICS order."""
    return [t.name for t in TOPICS if t.matches(sentence)]


def rule_ids() -> list[str]:
    """The ids of every rule the teacher states now (core, verdicts and the measurement families)."""
    from .teacher import ALL_RULES

    return [r.id for r in ALL_RULES]


def covering(topic: Topic, ids: list[str]) -> list[str]:
    """The rule ids among `ids` that speak of `topic`."""
    rx = [re.compile(p) for p in topic.rules]
    return [i for i in ids if any(r.match(i) for r in rx)]


# ---- PCCD -----------------------------------------------------------------------------------------
def pccd_sentences(folder: str | Path):
    """(file, title, aspect, index, sentence) for every sentence of every critique in PCCD's validation
    and test splits, in file order. A missing folder or file raises FileNotFoundError in one line."""
    folder = Path(folder)
    for name in FILES:
        path = folder / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"PCCD critiques not found: {path} (pass --data DIR, the folder holding "
                                    f"{FILES[0]}.json and {FILES[1]}.json)")
        for record in json.loads(path.read_text()):
            for aspect in ASPECTS:
                for i, s in enumerate(split_sentences(record.get(aspect) or "")):
                    yield name, record["title"], aspect, i, s


def coverage(folder: str | Path, ids: list[str] | None = None) -> dict:
    """The shares of PCCD's critique sentences whose topics the teacher's rules cover (see the module
    docstring), overall and per topic; `ids`: the rule ids to count as the vocabulary (default: the
    teacher's now)."""
    ids = rule_ids() if ids is None else list(ids)
    rules = {t.name: covering(t, ids) for t in TOPICS}
    covered = {name for name, r in rules.items() if r}
    counts = {t.name: 0 for t in TOPICS}
    n = n_covered = n_uncovered_only = n_beyond = n_beyond_only = n_none = 0
    for *_, sentence in pccd_sentences(folder):
        n += 1
        topics = tag(sentence)
        for name in topics:
            counts[name] += 1
        measurable = [t for t in topics if not TOPICS_BY_NAME[t].beyond]
        beyond = len(measurable) < len(topics)
        n_beyond += beyond
        if any(t in covered for t in measurable):
            n_covered += 1
        elif measurable:
            n_uncovered_only += 1
        elif beyond:
            n_beyond_only += 1
        else:
            n_none += 1
    if n == 0:
        raise ValueError(f"no critique sentences in {folder}")
    share = lambda k: round(k / n, 4)  # noqa: E731
    return {
        "sentences": n,
        "covered": share(n_covered),
        "uncovered_only": share(n_uncovered_only),
        "beyond_measurement": {
            "topics": [t.name for t in TOPICS if t.beyond], "share": share(n_beyond), "only": share(n_beyond_only),
            "note": "tagged, but counted in neither covered nor uncovered_only"},
        "no_topic": share(n_none),
        "topics": {t.name: {"label": t.label, "share": share(counts[t.name]), "sentences": counts[t.name],
                            "covered": None if t.beyond else t.name in covered, "rules": rules[t.name]}
                   for t in TOPICS},
        "rules": len(ids),
    }


def table(result: dict) -> str:
    """A short plain-text summary of `coverage(...)`."""
    lines = [f"{result['sentences']} PCCD critique sentences, {result['rules']} teacher rules",
             f"covered {result['covered']:.1%}   uncovered only {result['uncovered_only']:.1%}   "
             f"beyond measurement {result['beyond_measurement']['share']:.1%} (in neither)   "
             f"no topic {result['no_topic']:.1%}", "", f"{'topic':<15}{'share':>7}  covered  rules"]
    for name, t in sorted(result["topics"].items(), key=lambda kv: -kv[1]["share"]):
        state = "beyond" if t["covered"] is None else ("yes" if t["covered"] else "no")
        lines.append(f"{name:<15}{t['share']:>7.1%}  {state:<7}  {len(t['rules'])}")
    return "\n".join(lines)
