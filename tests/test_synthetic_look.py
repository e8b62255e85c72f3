"""The look of synthetic people: a face in front, hair behind, a light shirt front, seeded per-person colours."""

from __future__ import annotations


import numpy as np

from smplestx.body import BodyModel
from smplestx.synthetic import look


def test_regions_follow_the_rest_pose(body: BodyModel) -> None:
    regions = look.face_regions(body)
    assert regions.shape == (body.faces_np.shape[0],) and set(np.unique(regions)) == set(range(look.NUM_REGIONS))
    centre = body.v_template.numpy()[body.faces_np].mean(axis=1)  # y up, facing +z
    # The face and the shirt front look forward, the hair and the shirt's back (most of it) backward.
    assert centre[regions == look.FACE, 2].min() > centre[regions == look.HAIR, 2].mean()
    assert (centre[regions == look.PANEL, 2] > 0).all()
    assert np.median(centre[regions == look.SHIRT, 2]) < 0
    assert (centre[regions == look.EYES, 2] > 0).all()
    # Head above the shirt above the trousers above the shoes.
    heights = [np.median(centre[regions == r, 1]) for r in (look.HAIR, look.PANEL, look.TROUSERS, look.SHOES)]
    assert heights == sorted(heights, reverse=True)


def test_colours_are_seeded_and_the_front_is_lighter(body: BodyModel) -> None:
    regions = look.face_regions(body)
    a = look.face_colors(regions, np.random.default_rng(3))
    np.testing.assert_array_equal(a, look.face_colors(regions, np.random.default_rng(3)))
    assert not np.array_equal(a, look.face_colors(regions, np.random.default_rng(4)))
    for seed in range(20):
        pal = look.person_palette(np.random.default_rng(seed))
        assert pal.dtype == np.float32 and pal.min() >= 0 and pal.max() <= 255
        assert (pal[look.PANEL] > pal[look.SHIRT]).all() and pal[look.EYES].max() < pal[look.FACE].max()
    same = look.scene_face_colors(regions, [0, 1], seed=5)
    np.testing.assert_array_equal(same[1], look.scene_face_colors(regions, [1], seed=5)[0])
    assert not np.array_equal(same[0], same[1])
