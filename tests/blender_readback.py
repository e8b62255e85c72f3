"""Run by Blender's Python (bpy): import a .glb or .bvh and print the armature's joint positions as JSON.

Usage: BPY_PYTHON blender_readback.py glb|bvh FILE FPS N_FRAMES
Prints one JSON line: {"names": [...], "frames": [[[x, y, z], ...], ...]} in Blender world coordinates (z up).
"""

import json
import sys

import bpy


def main() -> None:
    """Import the file into an empty scene and sample pose-bone heads at every key."""
    kind, path, fps, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = round(fps), round(fps) / fps
    if kind == "glb":
        bpy.ops.import_scene.gltf(filepath=path)
    else:
        bpy.ops.import_anim.bvh(filepath=path, global_scale=0.01, frame_start=1, use_fps_scale=False,
                                rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y")
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    action = arm.animation_data.action
    start = int(round(action.frame_range[0]))
    names = [b.name for b in arm.pose.bones]
    frames = []
    for k in range(n):
        scene.frame_set(start + k)
        frames.append([list(arm.matrix_world @ b.head) for b in arm.pose.bones])
    print("READBACK " + json.dumps({"names": names, "frames": frames, "start": start}))


if __name__ == "__main__":
    main()
