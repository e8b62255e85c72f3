"""The paper's test sets: where their files live under a data folder, how samples are built, what is reported.

The layout is the reference repository's: ``DATA_DIR/annot/<HumanData>.npz`` and ``DATA_DIR/img/<dataset>/...``
(image paths inside the npz are relative to the image folder). A benchmark whose files are missing says which
paths it looked for and where the data comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.datasets import DatasetQuirks, resolve_image_root
from ..data.humandata import HumanData
from ..errors import SmplestxError, UsageError

#: The column set of most SMPL-X benchmarks in the paper's tables.
WHOLE_BODY_COLUMNS = ("mpvpe_all", "mpvpe_hand", "mpvpe_face", "pa_mpvpe_all", "pa_mpvpe_hand", "pa_mpvpe_face")
SMPL_COLUMNS = ("mpjpe_body", "pa_mpjpe_body", "mpvpe_all", "pa_mpvpe_all")  # benchmarks with SMPL GT


class BenchmarkDataError(SmplestxError, FileNotFoundError):
    """A benchmark's annotation or image folder is not where it was looked for (one line)."""


@dataclass(frozen=True)
class Benchmark:
    """One test set: its files, its sample rules, the columns the paper reports and the published numbers."""

    name: str
    title: str
    annotations: tuple[str, ...]  # candidate npz paths relative to the data folder, first found wins
    images: str  # image root relative to the data folder (the reference's img/<dataset>)
    rules: DatasetQuirks = field(default_factory=DatasetQuirks)
    table_columns: tuple[str, ...] = WHOLE_BODY_COLUMNS
    published: dict[str, float] = field(default_factory=dict)
    published_label: str = "SMPLest-X-H (paper)"
    source: str = ""
    has_ground_truth: bool = True

    def annotation_path(self, data_dir: str | Path) -> Path:
        """The annotation file under ``data_dir`` (raises BenchmarkDataError listing the candidates)."""
        root = Path(data_dir).expanduser()
        for rel in self.annotations:
            if (root / rel).is_file():
                return root / rel
        looked = ", ".join(str(root / rel) for rel in self.annotations)
        raise BenchmarkDataError(f"benchmark {self.name}: no annotation file (looked for {looked}); {self.source}")

    def image_root(self, data_dir: str | Path) -> Path:
        """The folder the npz image paths are relative to: ``img/<dataset>``, else SMPLer-X's ``<dataset>``."""
        return resolve_image_root(data_dir, self.images)

    def open(self, data_dir: str | Path) -> HumanData:
        """Open the annotation file and check that the image folder exists."""
        path = self.annotation_path(data_dir)
        images = self.image_root(data_dir)
        if not images.is_dir():
            raise BenchmarkDataError(f"benchmark {self.name}: image folder {images} does not exist; {self.source}")
        return HumanData.open(path)


_REGISTRY: dict[str, Benchmark] = {}


def register(b: Benchmark) -> Benchmark:
    """Add a benchmark to the registry (names are case-insensitive)."""
    _REGISTRY[b.name.lower()] = b
    return b


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (case-insensitive), or a ValueError listing the known ones."""
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise UsageError(f"unknown benchmark {name!r}; known: {', '.join(b.name for b in benchmarks())}") from None


def benchmarks() -> list[Benchmark]:
    """Every registered benchmark, in registration order."""
    return list(_REGISTRY.values())


# ----------------------------------------------------------------------------------------------------------------
# The paper's test sets. File names: the reference loads every benchmark from a HumanData npz under annot/, but
# releases the dataset class (and so the file name) of SynHand only; the other names are those of the SMPLer-X
# dataset classes (same authors, same HumanData files) or, where none exists, ours (docs/evaluation.md). A file of
# another name is given with --annotation / --images.

_HUMANDATA = ("preprocessed HumanData files: SMPLer-X / SMPLest-X dataset preparation (github.com/caizhongang/SMPLer-X, "
              "github.com/wqyin/SMPLest-X); put the npz in DATA_DIR/annot/ and the images in DATA_DIR/img/")
#: SMPLest-X-H40 numbers as transcribed from the paper's UBody table (Table IX of arXiv 2501.09782v1) by third
#: parties; not checked against the paper itself (docs/evaluation.md).
_UBODY_H40 = {"pa_mpvpe_all": 27.8, "pa_mpvpe_hand": 7.9, "pa_mpvpe_face": 2.5,
              "mpvpe_all": 51.1, "mpvpe_hand": 32.9, "mpvpe_face": 21.4}


def _annot(*names: str) -> tuple[str, ...]:
    """Candidate paths: each name under annot/ (the reference) and preprocessed_datasets/ (SMPLer-X)."""
    return tuple(f"{folder}/{n}" for n in names for folder in ("annot", "preprocessed_datasets"))


register(Benchmark(
    name="EHF", title="EHF (100 frames, SMPL-X registrations)",
    annotations=_annot("ehf_val.npz", "EHF.npz"), images="img/EHF",
    source="EHF from smpl-x.is.tue.mpg.de (non-commercial), converted to HumanData with mmhuman3d "
           "(convert_datasets.py --datasets ehf --modes val); " + _HUMANDATA,
))
register(Benchmark(
    name="UBody-intra", title="UBody, intra-scene test split",
    annotations=_annot("ubody_intra_scene_test.npz", "ubody_intra_test_all.npz"), images="img/UBody",
    rules=DatasetQuirks(interval=100), published=_UBODY_H40, published_label="SMPLest-X-H40 (paper, transcribed)",
    source="UBody from github.com/IDEA-Research/OSX (intra-scene split), HumanData via mmhuman3d; " + _HUMANDATA,
))
register(Benchmark(
    name="UBody-inter", title="UBody, inter-scene test split",
    annotations=_annot("ubody_inter_scene_test.npz", "ubody_inter_test_all.npz"), images="img/UBody",
    rules=DatasetQuirks(interval=100),
    source="UBody from github.com/IDEA-Research/OSX (inter-scene split), HumanData via mmhuman3d; " + _HUMANDATA,
))
register(Benchmark(
    name="EgoBody", title="EgoBody, egocentric test set (EgoSet)",
    annotations=_annot("egobody_egocentric_test_230425_043_fix_betas.npz"), images="img/EgoBody",
    source="EgoBody from sanweiliti.github.io/egobody (egocentric_color); " + _HUMANDATA,
))
register(Benchmark(
    name="ARCTIC", title="ARCTIC, protocol p1 validation",
    annotations=_annot("p1_val.npz", "arctic_p1_val.npz"), images="img/ARCTIC",
    rules=DatasetQuirks(interval=10, flat_hand_mean=True, zero_betas=True, vertices_key="vertices3d_path"),
    source="ARCTIC from arctic.is.tue.mpg.de; " + _HUMANDATA,
))
register(Benchmark(
    name="SynHand", title="SynHand test set",
    annotations=("annot/synhand_20241018_test_241023_1188_fix_betas.npz",), images="img/synbody",
    rules=DatasetQuirks(interval=10, flat_hand_mean=True),
    table_columns=WHOLE_BODY_COLUMNS + ("pa_mpjpe_hand",),
    published={"pa_mpvpe_all": 21.7}, published_label="SMPLest-X-H40 (paper, transcribed)",
    source="SynHand (the SMPLest-X authors' synthetic hand set; the reference's SynHand class)",
))
register(Benchmark(
    name="RenBody", title="RenBody (HiRes cameras) test set",
    annotations=_annot("renbody_test_highrescam_230517_78_0_fix_betas.npz"), images="img/RenBody",
    rules=DatasetQuirks(interval=10),
    source="RenBody (DNA-Rendering) from magichub.com/datasets/openxd-renbody; " + _HUMANDATA,
))
register(Benchmark(
    name="AGORA-val", title="AGORA validation set",
    annotations=_annot("agora_validation.npz", "agora_validation_multi_3840_1010.npz"), images="img/AGORA",
    source="AGORA from agora.is.tue.mpg.de (non-commercial); " + _HUMANDATA,
))
register(Benchmark(
    name="AGORA-test", title="AGORA test set (predictions for the evaluation server)",
    annotations=_annot("agora_test.npz", "agora_test_multi_3840.npz"), images="img/AGORA",
    rules=DatasetQuirks(body_model="none"), has_ground_truth=False,
    source="AGORA test images and person boxes (detections) as HumanData (image_path, bbox_xywh); " + _HUMANDATA,
))
register(Benchmark(
    name="BEDLAM-val", title="BEDLAM validation set",
    annotations=_annot("bedlam_val.npz", "bedlam_validation.npz"), images="img/BEDLAM",
    source="BEDLAM from bedlam.is.tue.mpg.de (non-commercial), validation split as HumanData; " + _HUMANDATA,
))
register(Benchmark(
    name="3DPW", title="3DPW test set (SMPL ground truth)",
    annotations=_annot("pw3d_test.npz", "3dpw_test.npz"), images="img/PW3D",
    rules=DatasetQuirks(body_model="smpl", gender_from_meta=True), table_columns=SMPL_COLUMNS,
    source="3DPW from virtualhumans.mpi-inf.mpg.de/3DPW (non-commercial), test split as HumanData with an 'smpl' "
           "dict and meta['gender']; needs smpl/SMPL_{NEUTRAL,MALE,FEMALE} and smplx2smpl.pkl in --body-models; "
           + _HUMANDATA,
))

# The synthetic test set (``smplestx synthetic-data OUT --split test``): checks a set-up end to end.
register(Benchmark(
    name="synthetic",
    title="Synthetic mannequin test set",
    annotations=("annotations/synthetic_test.npz", "annot/synthetic_test.npz"),
    images="images",
    rules=DatasetQuirks(gender_from_meta=True),
    source="make it with `smplestx synthetic-data DATA_DIR --split test --num N`",
))

__all__ = ["Benchmark", "BenchmarkDataError", "SMPL_COLUMNS", "WHOLE_BODY_COLUMNS", "benchmarks", "get_benchmark",
           "register"]
