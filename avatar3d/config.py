"""Top-level configs of the commands (dataclasses; YAML under configs/ holds overrides only).

Stage configs live next to the code they configure (e.g. :class:`avatar3d.body.BodyConfig`);
this module composes them per command and re-exports the strict loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avatar3d.body.base import BodyConfig
from avatar3d.utils.configs import ConfigError, load_config, save_config, to_dict


@dataclass(frozen=True)
class BodyExportConfig:
    """`avatar3d body`: export a rest-pose body mesh.

    Attributes:
        body: which body model and rig.
        height_m: standing height in metres (None: keep the phenotype's height).
        gender, age, muscle, weight, proportions: Anny phenotypes in [0, 1] (0 = female /
            youngest / least, 1 = male / oldest / most, 0.5 = average).
    """

    body: BodyConfig = field(default_factory=BodyConfig)
    height_m: float | None = None
    gender: float = 0.5
    age: float = 0.5
    muscle: float = 0.5
    weight: float = 0.5
    proportions: float = 0.5


__all__ = ["BodyConfig", "BodyExportConfig", "ConfigError", "load_config", "save_config", "to_dict"]
