"""Geometry shared by every stage: boxes and crops, cameras and projection, rotations, rigid alignment.

- ``crops``: boxes, crops and their affine maps; the released crop geometry
- ``cameras``: the crop camera, the one projection, the translation fit
- ``scene_camera``: one pinhole camera per input, every person re-expressed in it
- ``rotations``: axis-angle / matrix / 6D / quaternion / Euler conversions (torch, with numpy wrappers)
- ``alignment``: the Umeyama similarity of two point sets
"""
