"""Run by Blender's Python (bpy): import a .glb, .bvh or .fbx and print what Blender sees as JSON.

Usage: BPY_PYTHON blender_readback.py glb|bvh|fbx FILE FPS N_FRAMES
Prints one JSON line: {"names": [...], "frames": [[[x, y, z], ...], ...]} in Blender world coordinates (z up).

Usage: BPY_PYTHON blender_readback.py shot glb|fbx FILE FPS N_FRAMES WIDTH HEIGHT
The filmed shot, with the render resolution set to the video's WIDTH x HEIGHT: per frame the pelvis bone's world
position, the camera's world matrix and the pelvis as Blender's camera projects it (normalised, origin bottom
left, bpy_extras.object_utils.world_to_camera_view), and the camera's lens, sensor, fit and field of view; the
scene's frame rate after the import (Blender's FBX importer sets it from the file); for an FBX, the camera's
properties as the file holds them.
"""

import json
import math
import sys

import bpy


def _import(kind: str, path: str) -> None:
    """Import one file into the current scene."""
    if kind == "glb":
        bpy.ops.import_scene.gltf(filepath=path)
    elif kind == "fbx":
        bpy.ops.import_scene.fbx(filepath=path)
    else:
        bpy.ops.import_anim.bvh(filepath=path, global_scale=0.01, frame_start=1, use_fps_scale=False,
                                rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y")


def _empty_scene(fps: float) -> bpy.types.Scene:
    """Factory settings, no objects, the scene at ``fps``."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = round(fps), round(fps) / fps
    return scene


def joints() -> None:
    """Import the file into an empty scene and sample pose-bone heads at every key."""
    kind, path, fps, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    scene = _empty_scene(fps)
    _import(kind, path)
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    action = arm.animation_data.action
    start = int(round(action.frame_range[0]))
    names = [b.name for b in arm.pose.bones]
    frames = []
    for k in range(n):
        scene.frame_set(start + k)
        frames.append([list(arm.matrix_world @ b.head) for b in arm.pose.bones])
    print("READBACK " + json.dumps({"names": names, "frames": frames, "start": start}))


def _fbx_camera_properties(path: str) -> dict:
    """The camera's FBX properties that other readers use (frame, film, lens, field of view), as the file holds them."""
    from io_scene_fbx import parse_fbx

    keys = {"AspectWidth", "AspectHeight", "FilmWidth", "FilmHeight", "FocalLength", "FieldOfView", "FieldOfViewY"}
    found: dict = {}

    def walk(elem) -> None:
        for child in elem.elems:
            if child.id == b"NodeAttribute" and b"Camera" in child.props:
                for props in (e for e in child.elems if e.id == b"Properties70"):
                    for p in props.elems:
                        if p.props[0].decode() in keys:
                            found[p.props[0].decode()] = p.props[-1]
            walk(child)

    walk(parse_fbx.parse(path)[0])
    return found


def shot() -> None:
    """Import the file and sample the camera and the pelvis at every frame of the armature's action."""
    from bpy_extras.object_utils import world_to_camera_view

    kind, path, fps, n = sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
    width, height = int(sys.argv[6]), int(sys.argv[7])
    scene = _empty_scene(fps)
    # The video's frame: what Blender renders (and projects into) is the scene's resolution, not the file's.
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    _import(kind, path)
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    cams = [o for o in scene.objects if o.type == "CAMERA"]
    cam = cams[0] if cams else None
    start = int(round(arm.animation_data.action.frame_range[0]))
    pelvis = arm.pose.bones["pelvis"]
    out = {"start": start, "fps": scene.render.fps / scene.render.fps_base, "cameras": [o.name for o in cams],
           "objects": sorted(o.name for o in scene.objects), "actions": sorted(a.name for a in bpy.data.actions),
           "pelvis": [], "camera": [], "pixel": [], "lens": [], "vfov": [], "hfov": []}
    if cam is not None:
        out.update(sensor=[cam.data.sensor_width, cam.data.sensor_height], sensor_fit=cam.data.sensor_fit,
                   lens_unit=cam.data.lens_unit, shift=[cam.data.shift_x, cam.data.shift_y],
                   camera_action=cam.animation_data.action.name if cam.animation_data and
                   cam.animation_data.action else None)
    if kind == "fbx":
        out["fbx_camera"] = _fbx_camera_properties(path)
    for k in range(n):
        scene.frame_set(start + k)
        p = arm.matrix_world @ pelvis.head
        out["pelvis"].append(list(p))
        if cam is None:
            continue
        out["camera"].append([list(row) for row in cam.matrix_world])
        out["pixel"].append(list(world_to_camera_view(scene, cam, p)))
        # The field of view Blender renders: the camera's frame at this resolution (corners at depth -z).
        corners = cam.data.view_frame(scene=scene)
        xs, ys, z = [c.x for c in corners], [c.y for c in corners], abs(corners[0].z)
        out["vfov"].append(2.0 * math.atan((max(ys) - min(ys)) / 2.0 / z))
        out["hfov"].append(2.0 * math.atan((max(xs) - min(xs)) / 2.0 / z))
        out["lens"].append(cam.data.lens)
    print("READBACK " + json.dumps(out))


if __name__ == "__main__":
    shot() if sys.argv[1] == "shot" else joints()
