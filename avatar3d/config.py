"""Top-level configs of the commands (dataclasses; YAML under configs/ holds overrides only).

Stage configs live next to the code they configure (e.g. :class:`avatar3d.body.BodyConfig`);
this module composes them per command and re-exports the strict loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avatar3d.appearance.clothing import ClothingConfig
from avatar3d.appearance.texture import TextureConfig
from avatar3d.body.base import BodyConfig
from avatar3d.fitting.fitter import FitConfig
from avatar3d.perception.detector import PerceptionConfig
from avatar3d.utils.configs import ConfigError, load_config, save_config, to_dict


@dataclass(frozen=True)
class BodyExportConfig:
    """`avatar3d body`: export a rest-pose body mesh.

    Attributes:
        body: which body model and rig.
        height_m: standing height in metres (None: keep the phenotype's height).
        gender, age, muscle, weight, proportions: Anny phenotypes in [0, 1] (0 = male /
            youngest / least, 1 = female / oldest / most, 0.5 = average).
    """

    body: BodyConfig = field(default_factory=BodyConfig)
    height_m: float | None = None
    gender: float = 0.5
    age: float = 0.5
    muscle: float = 0.5
    weight: float = 0.5
    proportions: float = 0.5


@dataclass(frozen=True)
class CreateConfig:
    """`avatar3d create`: photo -> fitted, textured, rigged avatar.

    Attributes:
        body: body model and the rig the avatar is exported with (the fit itself always runs
            on the Anny "anny" rig when the model is Anny: rigs share mesh and shape).
        perception, fit, clothing, texture: the stage configs.
        clothing_enabled: capture clothing/hair silhouette as offsets along the normals.
        fov_deg: vertical field of view used when the photo has no EXIF focal length (None:
            the documented default of avatar3d.utils.images.default_intrinsics).
        use_encoder: start the fit from the multimodal encoder's body prior (photo cues and the
            optional description); False fits from the detector's landmarks alone.
        encoder_checkpoint: the encoder's weights (None: the shipped assets/encoder/encoder.pt).
    """

    body: BodyConfig = field(default_factory=BodyConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    clothing: ClothingConfig = field(default_factory=ClothingConfig)
    texture: TextureConfig = field(default_factory=TextureConfig)
    clothing_enabled: bool = True
    fov_deg: float | None = None
    use_encoder: bool = True
    encoder_checkpoint: str | None = None


__all__ = ["BodyConfig", "BodyExportConfig", "CreateConfig", "ConfigError", "load_config", "save_config", "to_dict"]
