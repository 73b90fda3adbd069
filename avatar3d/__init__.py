"""avatar3d: one photo of a person -> a rigged, textured, animatable 3D avatar.

Importing this package is cheap: it loads no compiled extension, no mediapipe, no gradio and
no model weights.  Use :mod:`avatar3d.api` for the whole pipeline.
"""

__version__ = "0.1.0"
