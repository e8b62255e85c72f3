"""Reference-mode quirks of the evaluation, fenced in one place.

``mode="reference"`` reproduces the *lists* of the reference ``HumanDataset.evaluate``: which entries exist,
NaN entries, the 100 mm hand skip and the reference's float32 regressor values.  It does NOT reproduce the
reference's float32 summation order: everything is computed in float64 from the reference's (float32-rounded)
inputs, so reference-mode numbers match the reference's to about 1e-5 relative (tested at 1e-4, see
docs/parity.md).  The hand-frame mismatch lives in ``metrics._hand_errors`` (its ``corrected`` branch) and the
SMPL-X-pelvis-onto-SMPL-root alignment in ``smpl_metrics._reference_chunk``; everything else is here.
"""

from __future__ import annotations

import numpy as np

#: The reference drops a valid hand's PA-MPJPE (and, via `continue`, the rest of that sample) above this.
REFERENCE_HAND_SKIP_MM = 100.0


def as_reference_float32(W: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """A regressor as the reference holds it (float32 torch buffers, or the dtype a file stores), in float64."""
    return np.asarray(W).astype(dtype).astype(np.float64)


def reference_regressors(
    J_regressor: np.ndarray, anchors: tuple[int, ...], j14: np.ndarray, j14_dtype: np.dtype,
    hands: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Anchor-joint, J14 and hand regressors with the reference's values (its float32 / stored-dtype rounding)."""
    # J_regressor comes from the torch layer (float32); the hand regressors concatenate its float32 rows with
    # float64 one-hot rows; SMPLX_to_J14 is used as the file stores it.
    return (
        as_reference_float32(J_regressor[list(anchors)]),
        as_reference_float32(j14, j14_dtype),
        {k: as_reference_float32(r) for k, r in hands.items()},
    )


def reference_hands(
    v: dict[str, np.ndarray], present: dict[str, np.ndarray], hands: dict[str, dict[str, np.ndarray]],
    lv: np.ndarray, rv: np.ndarray,
) -> None:
    """Hand entries with the reference's rules (float validity weights, NaN, the 100 mm `continue`)."""
    # The reference tests validity by truthiness: any non-zero value (NaN included) counts as valid.
    l_on, r_on = lv != 0, rv != 0
    everyone = np.ones_like(l_on)
    with np.errstate(divide="ignore", invalid="ignore"):
        for m in ("mpvpe", "pa_mpvpe", "mpjpe", "pa_mpjpe"):
            left, right = hands["left"][m], hands["right"][m]
            v[f"{m}_l_hand"], v[f"{m}_r_hand"] = left, right
            # Validity-weighted mean, appended even when both weights are 0 (0/0 -> NaN).
            v[f"{m}_hand"] = (left * lv + right * rv) / (lv + rv)
    for m in ("mpvpe", "pa_mpvpe", "mpjpe"):
        present[f"{m}_l_hand"], present[f"{m}_r_hand"], present[f"{m}_hand"] = l_on, r_on, everyone
    # PA-MPJPE: a valid hand is appended below 100 mm; above it the rest of the sample is skipped (`continue`):
    # a left skip drops the right hand and the combined entry, a right skip the combined entry. Exactly 100
    # (or NaN) is neither appended nor skipped.
    pl, pr = hands["left"]["pa_mpjpe"], hands["right"]["pa_mpjpe"]
    reach_r = ~(l_on & (pl > REFERENCE_HAND_SKIP_MM))
    skip_r = reach_r & r_on & (pr > REFERENCE_HAND_SKIP_MM)
    present["pa_mpjpe_l_hand"] = l_on & (pl < REFERENCE_HAND_SKIP_MM)
    present["pa_mpjpe_r_hand"] = reach_r & r_on & (pr < REFERENCE_HAND_SKIP_MM)
    present["pa_mpjpe_hand"] = reach_r & ~skip_r
