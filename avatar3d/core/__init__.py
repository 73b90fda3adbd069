"""Layer 0: data structures, rotations, frame conventions and joint names (no heavy imports)."""

from avatar3d.core.structures import (
    AvatarData,
    BodyOutput,
    BodyPrior,
    DescriptionUnderstanding,
    BodyParams,
    Camera,
    FitResult,
    Mesh,
    Motion,
    Observations,
    Skeleton,
    SkinWeights,
)

__all__ = [
    "AvatarData", "BodyOutput", "BodyParams", "BodyPrior", "DescriptionUnderstanding", "Camera", "FitResult", "Mesh", "Motion",
    "Observations", "Skeleton", "SkinWeights",
]
