"""Run by Blender's Python (bpy), not imported by smplestx: import a .glb, export it as .fbx.

Usage: BPY_PYTHON blender_glb_to_fbx.py INPUT.glb OUTPUT.fbx
"""

import sys

import bpy


def main() -> None:
    """Convert argv[1] (.glb) to argv[2] (.fbx) in an empty scene."""
    src, dst = sys.argv[1], sys.argv[2]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=src)
    # Frame range of the imported action, so the whole take is baked.
    actions = list(bpy.data.actions)
    if actions:
        start, end = actions[0].frame_range
        bpy.context.scene.frame_start, bpy.context.scene.frame_end = int(start), int(end)
    bpy.ops.export_scene.fbx(filepath=dst, add_leaf_bones=False, bake_anim=True, bake_anim_simplify_factor=0.0,
                             apply_scale_options="FBX_SCALE_ALL", use_mesh_modifiers=False)


if __name__ == "__main__":
    main()
