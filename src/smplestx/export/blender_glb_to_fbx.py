"""Run by Blender's Python (bpy), not imported by smplestx: import a .glb, export it as .fbx.

Usage: BPY_PYTHON blender_glb_to_fbx.py INPUT.glb OUTPUT.fbx
"""

import json
import struct
import sys

import bpy


def _fps_of(glb: str) -> float | None:
    """The frame rate our writer stores in the .glb's ``asset.extras.smplestx.fps`` (None when absent)."""
    with open(glb, "rb") as f:
        head = f.read(20)
        if len(head) < 20 or head[:4] != b"glTF" or head[16:20] != b"JSON":
            return None
        doc = json.loads(f.read(struct.unpack("<I", head[12:16])[0]))
    fps = doc.get("asset", {}).get("extras", {}).get("smplestx", {}).get("fps")
    return float(fps) if isinstance(fps, (int, float)) and fps > 0 else None


def _film_of_the_video(scene: bpy.types.Scene) -> None:
    """Give a world-frame .glb's camera the video's frame: render resolution and a film of the image's aspect.

    Blender's glTF importer keeps yfov (vertical fit, 36 x 24 mm film) and drops aspectRatio; the FBX exporter writes
    the film and the lens (fit horizontal) and the render resolution, so a 3:2 film would widen a 4:3 video's view.
    """
    for cam in (o.data for o in scene.objects if o.type == "CAMERA"):
        size = cam.get("image_size")  # our camera's extras: the video's width and height, pixels
        if size is None or len(size) != 2 or not min(size) > 0:
            continue
        width, height = int(size[0]), int(size[1])
        # The lens (the importer's, for yfov on the film's height) stays; the film's width makes the aspect.
        cam.sensor_width = cam.sensor_height * width / height
        cam.sensor_fit = "AUTO"  # what Blender's FBX importer sets: the converted scene and the reimported one agree
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
        scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0


def main() -> None:
    """Convert argv[1] (.glb) to argv[2] (.fbx) in an empty scene."""
    src, dst = sys.argv[1], sys.argv[2]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    fps = _fps_of(src)
    if fps is not None:
        # The glTF importer puts a key at frame time * fps * fps_base and the FBX exporter writes frame * fps_base /
        # fps: only fps_base 1 keeps the times. A non-integer rate (29.97) is therefore baked at its rounded rate.
        scene.render.fps, scene.render.fps_base = max(1, round(fps)), 1.0
    # No bone-shape icosphere: it would be written to the FBX as a stray mesh.
    bpy.ops.import_scene.gltf(filepath=src, disable_bone_shape=True)
    # Frame range over every imported action (armature, shape keys, camera), so the whole take is baked.
    ranges = [a.frame_range for a in bpy.data.actions]
    if ranges:
        scene.frame_start = int(round(min(r[0] for r in ranges)))
        scene.frame_end = int(round(max(r[1] for r in ranges)))
    _film_of_the_video(scene)
    # One take of the scene as it plays: "all actions" would also bake each object with every other object's action
    # (the armature flying the camera's path, the camera posed by the armature's), and the importer reads those back.
    bpy.ops.export_scene.fbx(filepath=dst, add_leaf_bones=False, bake_anim=True, bake_anim_simplify_factor=0.0,
                             bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                             apply_scale_options="FBX_SCALE_ALL", use_mesh_modifiers=False)


if __name__ == "__main__":
    main()
