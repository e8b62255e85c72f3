"""The one atomic-write helper: permissions, unique recognisable temporaries, cleanup on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from smplestx.io.atomic import TEMP_MARKER, atomic_path, remove_stale_temporaries, save_npz, temp_path_for, write_text


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert _mode(out) == 0o640  # 0666 & ~0027, not mkstemp's 0600
    assert out.read_text() == "{}"


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_temporaries_are_unique_recognisable_and_removable(tmp_path: Path) -> None:
    a, b = temp_path_for(tmp_path / "v.mp4", keep_suffix=True), temp_path_for(tmp_path / "v.mp4")
    assert a != b and a.name.startswith(".v.mp4.") and TEMP_MARKER in a.name and a.suffix == ".mp4"
    keep = write_text(tmp_path / "keep.txt", "x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([a, b])
    assert list(tmp_path.iterdir()) == [keep]


def test_save_npz_keeps_the_exact_name(tmp_path: Path) -> None:
    out = save_npz(tmp_path / "r.data", {"x": np.arange(3)})
    assert out.name == "r.data"
    np.testing.assert_array_equal(np.load(out)["x"], np.arange(3))


def test_only_the_atomic_writer_renames_files_into_place() -> None:
    """One home for atomic writes: no other library module calls os.replace / os.rename."""
    import re

    src = Path(__file__).resolve().parents[1] / "src" / "smplestx"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "atomic.py" and re.search(r"\bos\.(replace|rename)\(", p.read_text(encoding="utf-8"))]
    assert offenders == []
