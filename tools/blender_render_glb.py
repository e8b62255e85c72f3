"""Import a .glb in Blender and render one frame headlessly (run by Blender's Python, not the package's).

Usage: BPY_PYTHON tools/blender_render_glb.py IN.glb OUT.png FRAME [WIDTH HEIGHT]
Helper of tools/make_motion_capture_figures.py: Workbench engine (no GPU, no sampling noise, deterministic),
camera at a three-quarter view aimed at the mesh's bounding box at that frame.
"""

from __future__ import annotations

import math
import sys

import bpy
from mathutils import Vector


def main(glb: str, png: str, frame: int, width: int = 640, height: int = 480) -> None:
    """Import, pose at ``frame``, frame the mesh with a camera and render to ``png``."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30  # the export's rate, so glTF keys land on whole frames
    bpy.ops.import_scene.gltf(filepath=glb)
    scene.frame_set(frame)
    mesh = next(o for o in scene.objects if o.type == "MESH")
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = mesh.evaluated_get(depsgraph)
    pts = [evaluated.matrix_world @ v.co for v in evaluated.to_mesh().vertices]
    lo = Vector((min(p.x for p in pts), min(p.y for p in pts), min(p.z for p in pts)))
    hi = Vector((max(p.x for p in pts), max(p.y for p in pts), max(p.z for p in pts)))
    center, size = (lo + hi) / 2, (hi - lo).length
    # Blender's glTF import maps glTF (y up, +z to viewer) to z up; the video camera looked along +y here.
    # A three-quarter view from ahead of the walker (+x) on the video camera's side, slightly above.
    direction = Vector((math.sin(math.radians(40)), -math.cos(math.radians(40)), 0.25)).normalized()
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = 50
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    cam.location = center + direction * size * 2.2
    cam.rotation_euler = (center - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    # A ground plane under the feet so the stride reads as walking.
    bpy.ops.mesh.primitive_plane_add(size=size * 3, location=(center.x, center.y, lo.z))
    scene.render.engine = "BLENDER_WORKBENCH"
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "OBJECT"
    shading.show_shadows, shading.show_cavity = True, True
    mesh.color = (0.30, 0.55, 0.85, 1.0)
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = png
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    main(args[0], args[1], int(args[2]), *(int(a) for a in args[3:5]))
