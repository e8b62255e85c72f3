"""A walking gait whose planted feet stay put: legs solved in the sagittal plane from planned foot paths.

Each foot follows a plan over its gait cycle (leg phase u in [0, 1)): heel strike with the toes up
and the foot rolling onto its fixed heel, foot flat (heel and toes fixed), heel-off rolling over the
fixed toes, then a swing arc to the next heel strike one stride ahead. The pelvis moves forward at
the walker's speed; its height is the highest that both legs reach with a slightly bent knee, which
gives the vertical bob of a real walk. Hip, knee and ankle flexion then follow from the two-bone
law of cosines, so a planted heel or toe point is fixed in space while the body passes over it.
Coordinates here are the body's own (SMPL-X canonical: y up, z forward), metres, floor at y = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.contacts import foot_points

#: Indices in the body model's output joints (kinematic joints, then the foot vertex joints).
PELVIS, HIPS, KNEES, ANKLES = 0, (1, 2), (4, 5), (7, 8)
#: Body-pose rows (joint index - 1) of the hips, knees and ankles, left then right.
HIP_ROWS, KNEE_ROWS, ANKLE_ROWS = (0, 1), (3, 4), (6, 7)


@dataclass(frozen=True)
class GaitTiming:
    """Where in a foot's cycle its phases end (fractions of the cycle; stance starts at heel strike, u = 0)."""

    heel_rocker: float = 0.06  # heel down, toes coming down onto the floor
    heel_off: float = 0.45  # foot flat until here, then the heel rises over the fixed toes
    toe_off: float = 0.62  # toes leave the floor: swing until the next heel strike
    heel_strike_pitch: float = 0.25  # rad, toes up at heel strike
    toe_off_pitch: float = 0.6  # rad, heel up at toe-off
    clearance: float = 0.07  # m, ankle lift at mid-swing
    reach: float = 0.97  # fraction of the straight leg the hip-ankle distance may use


def _rot(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (..., 2) vectors given as (y, z) about the body's x axis by ``angle`` (a positive pitch lowers the toes)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([v[..., 0] * c - v[..., 1] * s, v[..., 0] * s + v[..., 1] * c], axis=-1)


def _angle(v: np.ndarray) -> np.ndarray:
    """Angle of (..., 2) (y, z) vectors measured from +y towards +z."""
    return np.arctan2(v[..., 1], v[..., 0])


def _ease(x: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 ramp with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def plan_gait(rest_joints: np.ndarray, distance: np.ndarray, stride: float, phase: float,
              timing: GaitTiming = GaitTiming()) -> dict[str, np.ndarray]:
    """Leg angles, pelvis height and true contacts of a walk over ``distance`` (F,) metres walked.

    ``rest_joints``: the body's (>= 66, 3) output joints in the rest pose (zero pose and translation).
    ``phase``: the left foot's cycle offset (fraction); the right foot is half a cycle later.
    Returns ``leg_pose`` (F, 21, 3) axis-angle with only the hips, knees and ankles set, ``pelvis_height``
    (F,) metres above the floor, ``pelvis_forward`` (F,) and ``contacts`` (F, 4) bool (left heel, left toes,
    right heel, right toes).
    """
    rest = np.asarray(rest_joints, np.float64)
    yz = rest[:, 1:]  # sagittal (y, z) coordinates
    feet = foot_points(rest)[:, 1:]
    s = np.asarray(distance, np.float64)
    frames = s.shape[0]
    tm = timing
    leg_pose = np.zeros((frames, 21, 3))
    contacts = np.zeros((frames, 4), bool)
    ankles, pitches = [], []
    for side in (0, 1):
        hip, knee, ankle = yz[HIPS[side]], yz[KNEES[side]], yz[ANKLES[side]]
        e_heel, e_toe = feet[2 * side] - ankle, feet[2 * side + 1] - ankle
        # The foot pitch at which heel and toe points are level: "flat" on the floor.
        d = e_heel - e_toe
        flat = np.arctan(d[0] / d[1])
        heel_to_toe = _rot(e_toe - e_heel, flat)[1]
        cycle = s / stride + phase + 0.5 * side
        k, u = np.floor(cycle), cycle - np.floor(cycle)
        # The heel lands ahead of the hip so that the planted span is centred under it.
        lead = hip[1] - yz[PELVIS][1] + _rot(e_heel, flat)[1] + 0.5 * tm.toe_off * stride
        heel_at = lambda kk: (kk - phase - 0.5 * side) * stride + lead  # noqa: E731 - heel position of stride kk
        pitch = np.full(frames, flat)
        pivot = np.zeros((frames, 2))
        offset = np.zeros((frames, 2))
        rock = u < tm.heel_rocker
        pitch[rock] = flat - tm.heel_strike_pitch * (1 - _ease(u[rock] / tm.heel_rocker))
        toe = (u >= tm.heel_off) & (u < tm.toe_off)
        pitch[toe] = flat + tm.toe_off_pitch * _ease((u[toe] - tm.heel_off) / (tm.toe_off - tm.heel_off))
        stance = u < tm.toe_off
        heel_pinned = stance & ~toe
        pivot[:, 0] = 0.0
        pivot[heel_pinned, 1] = heel_at(k[heel_pinned])
        pivot[toe, 1] = heel_at(k[toe]) + heel_to_toe
        offset[heel_pinned] = e_heel
        offset[toe] = e_toe
        ankle_pos = pivot - _rot(offset, pitch)
        swing = ~stance
        if swing.any():
            w = (u[swing] - tm.toe_off) / (1 - tm.toe_off)
            start = np.stack([np.zeros(swing.sum()), heel_at(k[swing]) + heel_to_toe], -1) \
                - _rot(np.broadcast_to(e_toe, (swing.sum(), 2)), np.full(swing.sum(), flat + tm.toe_off_pitch))
            end = np.stack([np.zeros(swing.sum()), heel_at(k[swing] + 1)], -1) \
                - _rot(np.broadcast_to(e_heel, (swing.sum(), 2)), np.full(swing.sum(), flat - tm.heel_strike_pitch))
            ankle_pos[swing] = start + (end - start) * _ease(w)[:, None]
            ankle_pos[swing, 0] += tm.clearance * np.sin(np.pi * w)
            pitch[swing] = flat + tm.toe_off_pitch - (tm.toe_off_pitch + tm.heel_strike_pitch) * _ease(w)
        contacts[:, 2 * side] = heel_pinned
        contacts[:, 2 * side + 1] = (u >= tm.heel_rocker) & stance
        ankles.append(ankle_pos)
        pitches.append(pitch)
    # Pelvis height: the highest at which both hips reach their ankles with a slightly bent knee.
    heights = []
    for side in (0, 1):
        hip, knee, ankle = yz[HIPS[side]], yz[KNEES[side]], yz[ANKLES[side]]
        reach = tm.reach * (np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
        dz = ankles[side][:, 1] - (s + hip[1] - yz[PELVIS][1])
        heights.append(ankles[side][:, 0] + np.sqrt(np.maximum(reach**2 - dz**2, 0.0)) - (hip[0] - yz[PELVIS][0]))
    pelvis_h = np.minimum(heights[0], heights[1])
    for side in (0, 1):
        hip, knee, ankle = yz[HIPS[side]], yz[KNEES[side]], yz[ANKLES[side]]
        thigh, shank = knee - hip, ankle - knee
        l1, l2 = np.linalg.norm(thigh), np.linalg.norm(shank)
        hip_pos = np.stack([pelvis_h + hip[0] - yz[PELVIS][0], s + hip[1] - yz[PELVIS][1]], -1)
        to = ankles[side] - hip_pos
        dist = np.clip(np.linalg.norm(to, axis=-1), abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
        bend = np.arccos(np.clip((l1**2 + dist**2 - l2**2) / (2 * l1 * dist), -1.0, 1.0))
        thigh_angle = _angle(to) - bend  # the knee bends forward (+z)
        knee_pos = hip_pos + l1 * np.stack([np.cos(thigh_angle), np.sin(thigh_angle)], -1)
        hip_flex = thigh_angle - _angle(thigh)
        shank_total = _angle(ankles[side] - knee_pos) - _angle(shank)
        leg_pose[:, HIP_ROWS[side], 0] = _wrap(hip_flex)
        leg_pose[:, KNEE_ROWS[side], 0] = _wrap(shank_total - hip_flex)
        leg_pose[:, ANKLE_ROWS[side], 0] = _wrap(pitches[side] - shank_total)
    return {"leg_pose": leg_pose, "pelvis_height": pelvis_h, "pelvis_forward": s, "contacts": contacts}


def _wrap(a: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-pi, pi]."""
    return np.angle(np.exp(1j * a))
