"""The training sets of SMPLest-X / SMPLer-X by name: where their HumanData files and images live under a data folder.

Layout (as the reference repositories expect it, relative to ``data_dir``):

* SMPLer-X sets: ``preprocessed_datasets/<file>.npz`` (the HumanData files released with SMPLer-X) and images under
  ``<ImageDir>/`` (e.g. ``BEDLAM/``, ``EgoBody/``); the file names, image folders and hard-coded image sizes /
  cameras come from SMPLer-X's ``data/<Name>/<Name>.py`` (github.com/caizhongang/SMPLer-X).
* SMPLest-X sets: ``annot/<file>.npz`` and ``img/<folder>/`` (the layout of SMPLest-X's ``datasets/SynHand.py``).
* Either layout is accepted for every set (``annot/`` <-> ``preprocessed_datasets/``, ``img/<dir>`` <-> ``<dir>``).
* ``synthetic``: the output of :func:`smplestx.synthetic.dataset.write_synthetic_dataset`
  (``annotations/synthetic_train.npz`` and ``images/``), so ``data_dir`` is that function's ``out_dir``.

Default sample intervals are the reference config's ``<Name>_train_sample_interval`` values (1 elsewhere).
Entries marked ``assumed=True`` have file names found in neither reference repository (SMPLest-X's own classes for
them are not public); they are guesses to be corrected once the files are at hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.datasets import DatasetQuirks, resolve_image_root
from .mixing import ConcatDataset
from .samples import HumanDataTrainSet

SMPLERX = "released with SMPLer-X (github.com/caizhongang/SMPLer-X, 'preprocessed_datasets'); images from the "
SMPLESTX = "released with SMPLest-X (github.com/wqyin/SMPLest-X, 'annot'); images from the "


@dataclass(frozen=True)
class DatasetSpec:
    """One training set: annotation files (several parts are concatenated), image folder, defaults."""

    name: str
    files: tuple[str, ...]
    image_dir: str  # relative to data_dir ("." = data_dir itself)
    annot_dir: str = "preprocessed_datasets"
    sample_interval: int = 1
    traits: DatasetQuirks = DatasetQuirks()
    source: str = ""  # where the files come from, for error messages
    assumed: bool = False  # file names not confirmed by the reference code

    def annotation_paths(self, data_dir: str | os.PathLike[str]) -> list[Path]:
        """The annotation files under ``data_dir`` (its own folder, else the other layout's: annot/ or
        preprocessed_datasets/)."""
        root = Path(data_dir)
        other = "annot" if self.annot_dir == "preprocessed_datasets" else "preprocessed_datasets"
        return [root / self.annot_dir / f if (root / self.annot_dir / f).is_file() or not (root / other / f).is_file()
                else root / other / f for f in self.files]

    def image_root(self, data_dir: str | os.PathLike[str]) -> Path:
        """The image folder: ``image_dir``, else the other layout's (``img/<dir>`` <-> ``<dir>``)."""
        return resolve_image_root(data_dir, self.image_dir)


def _smplerx(name: str, files: str | tuple[str, ...], image_dir: str, interval: int = 1, **traits: Any) -> DatasetSpec:
    files = (files,) if isinstance(files, str) else files
    origin = f"the {name} website" if image_dir != "." else f"the {name} website, extracted into data_dir"
    return DatasetSpec(name, files, image_dir, sample_interval=interval, traits=DatasetQuirks(**traits),
                       source=SMPLERX + origin)


_HD = (1080, 1920)
_SPECS = [
    _smplerx("BEDLAM", "bedlam_train.npz", "BEDLAM", 5),
    _smplerx("SPEC", "spec_train_smpl.npz", "SPEC", image_shape=_HD),
    _smplerx("GTA_Human2", "gta_human2multiple_230406_04000_0.npz", "GTA_Human2", image_shape=_HD,
             focal=(1158.0337, 1158.0337), princpt=(960.0, 540.0), flat_hand_mean=True),
    _smplerx("SynBody", "synbody_train_230521_04000_fix_betas.npz", "SynBody", 10, image_shape=(720, 1280),
             focal=(540.0, 540.0), princpt=(640.0, 360.0), flat_hand_mean=True),
    _smplerx("PoseTrack", "eft_posetrack.npz", "PoseTrack/data/images"),
    _smplerx("EgoBody_Egocentric", "egobody_egocentric_train_230425_065_fix_betas.npz", "EgoBody", image_shape=_HD),
    _smplerx("EgoBody_Kinect", "egobody_kinect_train_230503_065_fix_betas.npz", "EgoBody", 10, image_shape=_HD),
    _smplerx("PROX", "prox_train_smplx_new.npz", "PROX", image_shape=_HD),
    _smplerx("CrowdPose", "crowdpose_neural_annot_train_new.npz", "CrowdPose"),
    _smplerx("MPI_INF_3DHP", tuple(f"mpi_inf_3dhp_neural_annot_part{k}.npz" for k in (1, 2, 3)), "MPI_INF_3DHP", 5,
             strip_leading_slash=True),
    _smplerx("RICH", "rich_train_fix_betas.npz", "RICH"),
    _smplerx("MuCo", "muco3dhp_train.npz", "MuCo", image_shape=(1024, 1024)),
    _smplerx("InstaVariety", "insta_variety_neural_annot_train.npz", "InstaVariety", 10, image_shape=(224, 224)),
    _smplerx("Behave", "behave_train_230516_231_downsampled.npz", "Behave", image_shape=(1536, 2048)),
    _smplerx("UP3D", "up3d_trainval.npz", "UP3D"),
    _smplerx("ARCTIC", "p1_train.npz", "ARCTIC", 10, zero_betas=True, flat_hand_mean=True),
    _smplerx("OCHuman", "eft_ochuman.npz", "OCHuman"),
    _smplerx("CHI3D", tuple(f"CHI3D_train_230511_1492_{k}.npz" for k in range(2)), ".", image_shape=(900, 900),
             flat_hand_mean=True),
    _smplerx("RenBody_HiRes", tuple(f"renbody_train_highrescam_230517_399_{k}_fix_betas.npz" for k in range(2)),
             "RenBody", 5),
    _smplerx("MTP", "mtp_smplx_train.npz", "MTP"),
    _smplerx("HumanSC3D", tuple(f"HumanSC3D_train_230511_2752_{k}.npz" for k in range(3)), ".",
             image_shape=(900, 900), flat_hand_mean=True),
    _smplerx("RenBody", tuple(f"renbody_train_230525_399_{k}.npz" for k in range(10)), "RenBody", 10),
    _smplerx("FIT3D", tuple(f"FIT3D_train_230511_1504_{k}.npz" for k in range(6)), ".", image_shape=(900, 900),
             flat_hand_mean=True),
    _smplerx("Talkshow", tuple(f"talkshow_smplx_{k}.npz" for k in ("chemistry", "conan", "oliver", "seth")),
             "Talkshow", 10),
    _smplerx("SSP3D", "ssp3d_230525_311.npz", "SSP3D", image_shape=(512, 512)),
    _smplerx("LSPET", "eft_lspet.npz", "LSPET"),
    DatasetSpec("SynHand", ("synhand_20240927_241004_4628_fix_betas.npz",), "img/synbody", annot_dir="annot",
                traits=DatasetQuirks(flat_hand_mean=True), source=SMPLESTX + "SynBody / SynHand release"),
    # ASSUMED: SMPLest-X reads UBody from HumanData (its loader handles UBody's valid_label / iscrowd meta), but
    # the file name is not public; SMPLer-X read UBody from its original json annotations instead.
    DatasetSpec("UBody", ("ubody_train.npz",), "UBody", sample_interval=10, source=SMPLERX + "UBody website",
                assumed=True),
    # ASSUMED: hand-only (MANO) sets the reference special-cases; their HumanData file names are not public.
    *(DatasetSpec(n, (f"{n.lower()}_train.npz",), n, traits=DatasetQuirks(hand_only=True),
                  source=f"not public (HumanData conversion of {n}); images from the {n} website", assumed=True)
      for n in ("FreiHand", "InterHand", "BlurHand", "HanCo")),
    DatasetSpec("synthetic", ("synthetic_train.npz",), "images", annot_dir="annotations",
                source="written by `smplestx synthetic-data DATA_DIR` (smplestx.synthetic.dataset)"),
]

#: Name -> spec of every known training set.
REGISTRY: dict[str, DatasetSpec] = {s.name: s for s in _SPECS}


def get_spec(name: str) -> DatasetSpec:
    """The spec of ``name`` (exact, else case-insensitive)."""
    if name in REGISTRY:
        return REGISTRY[name]
    by_lower = {k.lower(): v for k, v in REGISTRY.items()}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    raise KeyError(f"unknown training set {name!r}; known: {', '.join(sorted(REGISTRY))}")


def build_dataset(
    name: str,
    data_dir: str | os.PathLike[str],
    *,
    sample_interval: int | None = None,
    seed: int = 0,
    augment: bool = True,
    body_models: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> HumanDataTrainSet | ConcatDataset:
    """The training set ``name`` under ``data_dir`` (parts concatenated); ``sample_interval`` None: the default.

    Extra keyword arguments go to :class:`~smplestx.train.samples.HumanDataTrainSet` (``space``,
    ``fix_reference_quirks``, ``traits`` to override the registry's).
    """
    spec = get_spec(name)
    image_root = spec.image_root(data_dir)
    paths = spec.annotation_paths(data_dir)
    for path in paths:
        if not path.is_file():
            guess = " (ASSUMED file name; rename your file or fix the registry)" if spec.assumed else ""
            raise FileNotFoundError(f"{spec.name}: annotation file {path} not found{guess}; it is {spec.source}")
    if not image_root.is_dir():
        raise FileNotFoundError(f"{spec.name}: image folder {image_root} not found; it is {spec.source}")
    kwargs.setdefault("traits", spec.traits)
    interval = spec.sample_interval if sample_interval is None else int(sample_interval)
    parts = [HumanDataTrainSet(p, image_root, sample_interval=interval, seed=seed, augment=augment,
                               body_models=body_models, name=f"{spec.name}:{p.stem}" if len(paths) > 1 else spec.name,
                               **kwargs) for p in paths]
    if len(parts) > 1:  # a part with nothing usable (all filtered out) is left out of the concatenation
        parts = [p for p in parts if len(p)] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    mixed = ConcatDataset(parts, seed=seed)
    mixed.name = spec.name
    return mixed


__all__ = ["REGISTRY", "DatasetSpec", "build_dataset", "get_spec"]
