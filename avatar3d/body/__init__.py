"""Layer 2: parametric body models behind one protocol (Anny default, SMPL-X with user files)."""

from avatar3d.body.base import ANNY_RIGS, BODY_MODELS, BodyConfig, BodyModel


def create_body_model(config: BodyConfig | None = None) -> BodyModel:
    """Build the body model named by ``config`` (default: Anny, anny rig, float32).

    Raises ValueError for unknown names and a :class:`SMPLXFilesMissing` error (a ValueError)
    saying where to get and put the files when SMPL-X is asked for but not installed.
    """
    config = config or BodyConfig()
    if config.model == "anny":
        from avatar3d.body.anny_backend import AnnyBody

        return AnnyBody(config)
    from avatar3d.body.smplx_backend import SMPLXBody

    return SMPLXBody(config)


__all__ = ["ANNY_RIGS", "BODY_MODELS", "BodyConfig", "BodyModel", "create_body_model"]
