"""Typed motion plan: what the text parser hands to motion synthesis (and what ``plan.json`` holds).

A :class:`MotionPlan` is an ordered tuple of :class:`PlanGroup` s; the actions of one group are
performed *at the same time* ("wave while walking"), groups follow one another in order.  Each
:class:`ActionStep` names one canonical action (see :mod:`avatar3d.motion.vocabulary`) with its
quantities in SI units and the character's own frame (DESIGN.md section 3):

* ``distance_m`` - metres travelled (locomotion; for ``direction == 'circle'`` the path length).
* ``steps`` - number of steps asked for ("five steps"; a step is :data:`STEP_LENGTH_M`).
* ``direction`` - ``forward | backward | left | right | circle | in_place`` (left = the
  character's own left, a sidestep; ``circle`` walks a loop back to the start).
* ``turn_deg`` - heading change in degrees, **positive = a left turn = counter-clockwise seen from
  above**, negative = right.  For a circle walk its sign is the circling direction.
* ``duration_s`` - seconds, when the prompt asked for a duration (or a default was used).
* ``count`` - repetitions (jumps, claps, kicks, wave cycles, laps of a circle, ...).
* ``speed`` - multiplier of the action's natural tempo: 1.0 normal, 0.6 slow, 1.5 fast.
* ``side`` - ``left | right | both`` for the arm / leg doing a one-sided action.

Every value the prompt did not give but a default filled in is listed in ``defaulted``.
``warnings`` repeats, for each step, the plan-level warnings about that step; the plan's own
``warnings`` holds every warning (so ``plan.json`` has one flat list to read).

Pure data + arithmetic: numpy/torch free, JSON round-trip with :meth:`MotionPlan.to_json` and
:meth:`MotionPlan.from_json`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

PLAN_SCHEMA = "avatar3d.motion_plan/1"

ACTIONS: tuple[str, ...] = (
    "walk", "run", "jump", "turn", "wave", "raise_arms", "clap", "sit_down", "stand_up", "bow",
    "kick", "punch", "squat", "jumping_jacks", "idle", "dance", "spin", "hop",
)
DIRECTIONS: tuple[str, ...] = ("forward", "backward", "left", "right", "circle", "in_place")
SIDES: tuple[str, ...] = ("left", "right", "both")
MATCHED_BY: tuple[str, ...] = ("keyword", "embedding", "default")
LANGUAGES: tuple[str, ...] = ("en", "ko", "mixed")

# ---- rough timing model used by estimated_duration_s (seconds, metres) ----
STEP_LENGTH_M = 0.7          # one walking step
WALK_SPEED_M_S = 1.3         # normal walking speed
RUN_SPEED_M_S = 3.0          # normal running speed
SIDESTEP_SPEED_M_S = 0.8     # walking sideways / backwards is slower
TURN_S_PER_90 = 1.0          # turning in place
SPIN_S_PER_360 = 1.5         # a quick spin
MIN_ACTION_S = 0.5           # nothing takes less
GESTURE_SETUP_S = 1.0        # raising and lowering the arm(s) around a wave / raised arms
SECONDS_PER_COUNT: dict[str, float] = {
    "jump": 1.0, "hop": 0.6, "wave": 0.5, "clap": 0.5, "kick": 1.2, "punch": 0.6, "squat": 2.0,
    "jumping_jacks": 1.0, "bow": 2.5, "sit_down": 2.0, "stand_up": 2.0,
}
FIXED_DURATION_S: dict[str, float] = {"sit_down": 2.0, "stand_up": 2.0}


@dataclass(frozen=True)
class ActionStep:
    """One action with its quantities (see the module docstring for units and signs)."""

    action: str
    count: int | None = None
    distance_m: float | None = None
    steps: int | None = None
    direction: str | None = None
    turn_deg: float | None = None
    duration_s: float | None = None
    speed: float = 1.0
    side: str | None = None
    source: str = ""
    matched_by: str = "keyword"
    confidence: float = 1.0
    warnings: tuple[str, ...] = ()
    defaulted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; expected one of {ACTIONS}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}; expected one of {DIRECTIONS}")
        if self.side is not None and self.side not in SIDES:
            raise ValueError(f"unknown side {self.side!r}; expected one of {SIDES}")
        if self.matched_by not in MATCHED_BY:
            raise ValueError(f"unknown matched_by {self.matched_by!r}; expected one of {MATCHED_BY}")
        for name in ("distance_m", "turn_deg", "duration_s", "speed", "confidence"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")

    @property
    def circle_direction(self) -> str | None:
        """``'left'`` (counter-clockwise) or ``'right'`` for a circle walk, else ``None``."""
        if self.direction != "circle":
            return None
        return "right" if (self.turn_deg or 0.0) < 0 else "left"

    def path_length_m(self) -> float | None:
        """Metres to travel: ``distance_m``, else ``steps`` x :data:`STEP_LENGTH_M`, else None."""
        if self.distance_m is not None:
            return self.distance_m
        if self.steps is not None:
            return self.steps * STEP_LENGTH_M
        return None

    def estimated_duration_s(self) -> float:
        """Rough length of this action alone in seconds (walk 1.3 m/s, run 3 m/s, jump 1 s, ...)."""
        speed = max(self.speed, 0.1)
        if self.duration_s is not None:
            return max(self.duration_s, MIN_ACTION_S)
        a = self.action
        if a in ("walk", "run", "hop", "jump"):
            length = self.path_length_m()
            if length is not None and self.direction != "in_place":
                base = RUN_SPEED_M_S if a == "run" else WALK_SPEED_M_S
                if a == "walk" and self.direction in ("backward", "left", "right"):
                    base = SIDESTEP_SPEED_M_S
                moving = length / (base * speed)
                if a in ("jump", "hop") and self.count is not None:
                    moving = max(moving, self.count * SECONDS_PER_COUNT[a] / speed)
                return max(moving, MIN_ACTION_S)
            if a in ("jump", "hop"):
                return max((self.count or 1) * SECONDS_PER_COUNT[a] / speed, MIN_ACTION_S)
            return max(2.0 / speed, MIN_ACTION_S)  # walking / running in place, no length given
        if a == "turn":
            return max(abs(self.turn_deg or 90.0) / 90.0 * TURN_S_PER_90 / speed, MIN_ACTION_S)
        if a == "spin":
            return max(abs(self.turn_deg or 360.0) / 360.0 * SPIN_S_PER_360 / speed, MIN_ACTION_S)
        if a in ("wave", "raise_arms"):
            core = (self.count or 3) * SECONDS_PER_COUNT["wave"] / speed if a == "wave" else 2.0
            return core + GESTURE_SETUP_S
        if a in FIXED_DURATION_S:
            return FIXED_DURATION_S[a] / speed
        if a in SECONDS_PER_COUNT:
            return max((self.count or 1) * SECONDS_PER_COUNT[a] / speed, MIN_ACTION_S)
        return 2.0  # idle / dance without a duration

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``circle_direction`` and ``estimated_duration_s`` are derived)."""
        return {
            "action": self.action,
            "count": self.count,
            "distance_m": self.distance_m,
            "steps": self.steps,
            "direction": self.direction,
            "circle_direction": self.circle_direction,
            "turn_deg": self.turn_deg,
            "duration_s": self.duration_s,
            "speed": self.speed,
            "side": self.side,
            "source": self.source,
            "matched_by": self.matched_by,
            "confidence": round(self.confidence, 4),
            "estimated_duration_s": round(self.estimated_duration_s(), 3),
            "defaulted": list(self.defaulted),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ActionStep:
        """Inverse of :meth:`to_json` (derived keys are ignored)."""
        return cls(
            action=d["action"], count=d.get("count"), distance_m=d.get("distance_m"),
            steps=d.get("steps"), direction=d.get("direction"), turn_deg=d.get("turn_deg"),
            duration_s=d.get("duration_s"), speed=float(d.get("speed", 1.0)), side=d.get("side"),
            source=d.get("source", ""), matched_by=d.get("matched_by", "keyword"),
            confidence=float(d.get("confidence", 1.0)), warnings=tuple(d.get("warnings", ())),
            defaulted=tuple(d.get("defaulted", ())),
        )

    def with_warning(self, message: str) -> ActionStep:
        return replace(self, warnings=self.warnings + (message,))


@dataclass(frozen=True)
class PlanGroup:
    """Actions performed simultaneously (e.g. walk + wave); lasts as long as its longest step."""

    steps: tuple[ActionStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a PlanGroup needs at least one step")

    def estimated_duration_s(self) -> float:
        return max(s.estimated_duration_s() for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [s.to_json() for s in self.steps],
            "estimated_duration_s": round(self.estimated_duration_s(), 3),
        }


@dataclass(frozen=True)
class MotionPlan:
    """The parsed prompt: groups in order, each a set of simultaneous steps, plus warnings.

    ``warnings`` holds every warning raised while parsing (the ones about a single step are also on
    that step).  ``max_duration_s`` is the cap the plan was fitted into.
    """

    prompt: str
    language: str
    groups: tuple[PlanGroup, ...]
    warnings: tuple[str, ...] = ()
    max_duration_s: float = 60.0
    schema: str = field(default=PLAN_SCHEMA)

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}; expected one of {LANGUAGES}")

    @property
    def steps(self) -> tuple[ActionStep, ...]:
        """All steps, flattened in order."""
        return tuple(s for g in self.groups for s in g.steps)

    @property
    def actions(self) -> tuple[tuple[str, ...], ...]:
        """Action names per group, e.g. ``(('walk',), ('wave',))``."""
        return tuple(tuple(s.action for s in g.steps) for g in self.groups)

    def estimated_duration_s(self) -> float:
        """Rough total length in seconds: the groups' durations added up."""
        return float(sum(g.estimated_duration_s() for g in self.groups))

    def to_json(self) -> dict[str, Any]:
        """What goes into ``plan.json`` (``json.dumps``-able; ``from_json`` reads it back)."""
        return {
            "schema": self.schema,
            "prompt": self.prompt,
            "language": self.language,
            "max_duration_s": self.max_duration_s,
            "estimated_duration_s": round(self.estimated_duration_s(), 3),
            "groups": [g.to_json() for g in self.groups],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MotionPlan:
        return cls(
            prompt=d["prompt"], language=d["language"],
            groups=tuple(PlanGroup(tuple(ActionStep.from_json(s) for s in g["steps"])) for g in d["groups"]),
            warnings=tuple(d.get("warnings", ())), max_duration_s=float(d.get("max_duration_s", 60.0)),
            schema=d.get("schema", PLAN_SCHEMA),
        )
