"""Model names -> hub repository, file, config, checksum and licence; downloaded on first use.

The table is data: add a row to :data:`MODELS` to add a model. Downloads go through
``huggingface_hub`` (its cache under ``$HF_HOME``, its progress bar, resumable, ``HF_HUB_OFFLINE``
and ``HF_ENDPOINT`` respected). A row with an empty ``sha256`` is "not verified": it must say why in
``no_sha256_reason`` (a test holds every row to that), and only the hub's own transfer checks apply.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..io.atomic import write_text
from ..user_config import cache_dir

log = logging.getLogger(__name__)

#: Downloads above this size are announced (size and licence) before they start.
ANNOUNCE_BYTES = 100 * 2**20

_SMPLEST_X_LICENCE = "S-Lab License 1.0: non-commercial use only (see github.com/wqyin/SMPLest-X)"
_SMPLER_X_LICENCE = "S-Lab License 1.0: non-commercial use only (see github.com/caizhongang/SMPLer-X)"
_SYNTHETIC_LICENCE = ("Apache-2.0 (our own weights, trained only on our license-free synthetic people: it knows our "
                      "synthetic mannequins, not real photos; needs the body model of `smplestx synthetic-body --seed 0`)")


#: The package's root folder: ``packaged`` paths are relative to it.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ZooModel:
    """One downloadable model: where it lives on the hub and what it is."""

    name: str
    family: str  # "smplest_x" or "smpler_x"
    repo: str
    filename: str
    config_file: str | None  # official config_base.py in the same repo, when the release has one
    size: str  # "H" etc: the encoder preset, used when there is no config file
    sha256: str  # "" = not verified (then no_sha256_reason says why)
    approx_bytes: int  # 0 = unknown; only for the announcement
    licence: str
    revision: str = "main"
    no_sha256_reason: str = ""  # why a row has no digest; required when sha256 is empty
    packaged: str = ""  # a file shipped inside the package (relative to it): no download, no hub

    @property
    def source(self) -> str:
        """Where the file comes from, for listings."""
        return f"package: smplestx/{self.packaged}" if self.packaged else f"hf://{self.repo}/{self.filename}"

    @property
    def shipped_path(self) -> Path | None:
        """Where a file shipped inside the package lies (None for hub models)."""
        return PACKAGE_ROOT / self.packaged if self.packaged else None


_NOT_PUBLISHED = "no public page lists its SHA-256 (Hugging Face LFS details or a release note); record it once a download is verified"

#: The released models. Digests and sizes of the SMPLer-X files are the Git LFS details the Hugging Face pages
#: publish: H32 in the authors' space (caizhongang/SMPLer-X, pretrained_models/) and in the mirror
#: camenduru/SMPLer-X, identical; S32, B32 and L32 in that mirror (S32 also identical in the TANGO space's copy).
#: The SMPLest-X size is approximate (from its README).
MODELS: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel("smplest-x-h", "smplest_x", "waanqii/SMPLest-X", "smplest_x_h.pth.tar", "config_base.py",
                 "H", "", int(8.2 * 2**30), _SMPLEST_X_LICENCE, no_sha256_reason=_NOT_PUBLISHED),
        ZooModel("smpler-x-s32", "smpler_x", "caizhongang/SMPLer-X", "smpler_x_s32.pth.tar", None,
                 "S", "1c78569f4e7b6e22e7166b55f322e5d5e019073b8d1a430a6926f93b4c86aa62", 384315279, _SMPLER_X_LICENCE),
        ZooModel("smpler-x-b32", "smpler_x", "caizhongang/SMPLer-X", "smpler_x_b32.pth.tar", None,
                 "B", "53baf53545424f39c4bb80963a068b947be37aa49a64e622280cb1e0d5a018b7", int(1.24e9), _SMPLER_X_LICENCE),
        ZooModel("smpler-x-l32", "smpler_x", "caizhongang/SMPLer-X", "smpler_x_l32.pth.tar", None,
                 "L", "b680a39ad2a14e70da9b3f650ec3b5b3b69e450f1c0f67a6ce726296b45709ce", 3920223856, _SMPLER_X_LICENCE),
        ZooModel("smpler-x-h32", "smpler_x", "caizhongang/SMPLer-X", "smpler_x_h32.pth.tar", None,
                 "H", "0f9bc3bda088758e8e16cdf381b0dffabd5e6bc07326027b88d6f54aa3a215c7", 7942394512, _SMPLER_X_LICENCE),
        ZooModel("smpler-x-h32-correct", "smpler_x", "caizhongang/SMPLer-X", "smpler_x_h32_correct.pth.tar", None,
                 "H", "", 7942394512, _SMPLER_X_LICENCE, no_sha256_reason=_NOT_PUBLISHED),
        # Ours, inside the package: the measuring stick of tests, demo and benchmarks (configs/train/synthetic_tiny.toml).
        ZooModel("synthetic-tiny", "smplest_x", "", "synthetic_tiny.safetensors", None, "tiny", "", 0,
                 _SYNTHETIC_LICENCE, packaged="models_data/synthetic_tiny.safetensors",
                 no_sha256_reason="inside the package: nothing is downloaded"),
    )
}

DEFAULT_MODEL = "smplest-x-h"

#: Person detectors downloaded on first use (transformers format: config.json + model.safetensors).
DETECTORS: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel("rtdetr-r18", "detector", "PekingU/rtdetr_r18vd", "model.safetensors", "config.json", "-", "",
                 int(80 * 2**20), "Apache-2.0 (RT-DETR, github.com/lyuwenyu/RT-DETR)",
                 no_sha256_reason="the hub's model.safetensors changed between revisions (two different LFS digests "
                                  "are published) and this row follows main: pin a revision to record one"),
        ZooModel("rtdetr-r50", "detector", "PekingU/rtdetr_r50vd", "model.safetensors", "config.json", "-", "",
                 int(170 * 2**20), "Apache-2.0 (RT-DETR, github.com/lyuwenyu/RT-DETR)",
                 no_sha256_reason="a digest is published only for an old revision (ae8384b) and this row follows "
                                  "main: pin a revision to record one"),
    )
}
DEFAULT_DETECTOR = "rtdetr-r18"


class ModelDownloadError(OSError):
    """A model that cannot be fetched (offline without a cached copy, network or hub error)."""


class ChecksumError(OSError):
    """A downloaded file whose SHA-256 is not the table's; the file is removed, never used."""


@dataclass(frozen=True)
class ResolvedModel:
    """Local files of a model: the checkpoint and, when the release has one, its official config."""

    checkpoint: Path
    config: Path | None
    entry: ZooModel | None


def is_model_name(value: str | os.PathLike[str]) -> bool:
    """True when ``value`` names a row of the table rather than an existing local path."""
    return isinstance(value, str) and value.lower() in MODELS and not Path(value).exists()


def get_model(name: str) -> ZooModel:
    """The table row for ``name`` (case-insensitive), or a clear error listing the names."""
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(MODELS)} (or give a local file path)") from None


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def sha256_file(path: Path, chunk: int = 16 * 2**20) -> str:
    """Hex SHA-256 of a file, read in chunks (constant memory for multi-GB checkpoints)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _record_path(digest: str) -> Path:
    return cache_dir() / "verified" / f"{digest}.json"


def _verify(path: Path, expected: str, what: str) -> None:
    """Check ``path`` against ``expected`` once; a record (size, mtime) spares rehashing GBs on every load."""
    real = path.resolve()
    st = real.stat()
    stamp = {"path": str(real), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    record = _record_path(expected)
    try:
        if json.loads(record.read_text()) == stamp:
            return
    except (OSError, ValueError):
        pass
    actual = sha256_file(real)
    if actual != expected.lower():
        # Remove the bad copy (blob and its snapshot link) so it is never used and a rerun fetches it again.
        for p in (path, real):
            try:
                p.unlink()
            except OSError:
                pass
        raise ChecksumError(
            f"{what}: SHA-256 {actual} does not match the expected {expected}; the download was corrupt or the "
            f"file changed on the hub. It was deleted; run again to re-download, or report it if this repeats."
        )
    try:
        write_text(record, json.dumps(stamp), fsync=False)
    except OSError as exc:  # a read-only cache costs a rehash next time, nothing else
        log.debug("could not record the verification of %s: %s", real, exc)


#: Seconds the hub may take to answer before it counts as unreachable (``HF_HUB_ETAG_TIMEOUT`` overrides it).
HUB_TIMEOUT = 4.0

# Modules whose exceptions mean "the network failed" (huggingface_hub's HTTP clients, old and new).
_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "requests", "urllib3"})


def _hub_timeout() -> float:
    try:
        return float(os.environ.get("HF_HUB_ETAG_TIMEOUT") or HUB_TIMEOUT)
    except ValueError:
        return HUB_TIMEOUT


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` forbids the hub (the cache is all there is)."""
    from huggingface_hub import constants

    is_offline = getattr(constants, "is_offline_mode", None)
    return bool(is_offline()) if callable(is_offline) else bool(constants.HF_HUB_OFFLINE)


def _is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES


def _what(entry: ZooModel) -> str:
    return f"{'detector' if entry.family == 'detector' else 'model'} {entry.name}"


def _not_cached(entry: ZooModel, where: str, reason: str) -> ModelDownloadError:
    """The one message for a file that is neither in the cache nor fetchable now."""
    return ModelDownloadError(
        f"{_what(entry)}: {reason}, and {where} is not in the Hugging Face cache ({hub_cache_dir()}); "
        f"fetch it once where there is a network (`smplestx download {entry.name}`, then copy the cache or share "
        f"HF_HOME), or pass a local file instead of the name"
    )


def _check_reachable(entry: ZooModel, filename: str, where: str) -> None:
    """One request, no retries, a short timeout: an unreachable hub fails in seconds, in one line."""
    import huggingface_hub
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    try:
        get_hf_file_metadata(hf_hub_url(entry.repo, filename, revision=entry.revision), timeout=_hub_timeout())
    except huggingface_hub.errors.HfHubHTTPError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelDownloadError(f"{_what(entry)}: the hub at {constants.ENDPOINT} refused {where} ({reason})") from None
    except Exception as exc:  # noqa: BLE001 - narrowed just below: only transport failures become one line
        if not _is_transport_error(exc):
            raise
        detail = str(exc).strip() or type(exc).__name__
        raise _not_cached(entry, where, f"the Hugging Face hub ({constants.ENDPOINT}) is unreachable ({detail})") from None


def _download(entry: ZooModel, filename: str, announce: bool) -> Path:
    """Fetch one file of ``entry`` through the hub cache, with one clear line when that is impossible."""
    import huggingface_hub
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    where = f"{entry.repo}/{filename}@{entry.revision}"
    cached = isinstance(try_to_load_from_cache(entry.repo, filename, revision=entry.revision), str)
    if not cached:
        # Said before anything is announced or tried: huggingface_hub alone retries for half a minute.
        if hub_offline():
            raise _not_cached(entry, where, "offline (HF_HUB_OFFLINE is set)")
        _check_reachable(entry, filename, where)
        if announce and entry.approx_bytes >= ANNOUNCE_BYTES:
            log.warning("downloading %s (%s, about %s) once into the Hugging Face cache; licence: %s",
                        _what(entry), where, _human(entry.approx_bytes), entry.licence)
    try:
        # A cached file costs one short HEAD (is it current?); unreachable, the cached copy is used.
        return Path(hf_hub_download(entry.repo, filename, revision=entry.revision, etag_timeout=_hub_timeout()))
    except huggingface_hub.errors.LocalEntryNotFoundError as exc:
        raise _not_cached(entry, where, "offline (HF_HUB_OFFLINE is set)" if hub_offline()
                          else f"the download failed ({exc})") from None
    except (huggingface_hub.errors.HfHubHTTPError, OSError) as exc:
        raise ModelDownloadError(f"{_what(entry)}: downloading {where} failed: {exc}") from None


def _fetch_model(entry: ZooModel, config: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """The checkpoint of a table row (downloaded once, verified where the table has a digest) and its config."""
    if entry.packaged:
        shipped = entry.shipped_path
        if not shipped.is_file():
            raise ModelDownloadError(f"model {entry.name}: {shipped} is missing from this installation; reinstall smplestx")
        return ResolvedModel(shipped, Path(config) if config else None, entry)
    checkpoint = _download(entry, entry.filename, announce=True)
    if entry.sha256:
        _verify(checkpoint, entry.sha256, f"model {entry.name} ({checkpoint})")
    else:
        log.info("model %s: no SHA-256 on record; relying on the hub's transfer checks", entry.name)
    cfg: Path | None = Path(config) if config else None
    if cfg is None and entry.config_file:
        cfg = _download(entry, entry.config_file, announce=False)
    return ResolvedModel(checkpoint, cfg, entry)


def resolve_model(name_or_path: str | os.PathLike[str], config: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """A model name (downloaded on first use) or a local checkpoint path -> local checkpoint and config files."""
    if not is_model_name(name_or_path):
        path = Path(name_or_path).expanduser()
        if isinstance(name_or_path, str) and not path.exists() and "/" not in name_or_path and "." not in path.name:
            # Looks like a name, not a path: say which names exist rather than "file not found".
            get_model(name_or_path)
        return ResolvedModel(path, Path(config) if config else None, None)
    return _fetch_model(get_model(str(name_or_path)), config)


def get_detector(name: str) -> ZooModel:
    """The detector row for ``name`` (case-insensitive), or a clear error listing the names."""
    try:
        return DETECTORS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown detector model {name!r}; known: {', '.join(DETECTORS)}") from None


def resolve_detector(name: str) -> ResolvedModel:
    """A detector name of :data:`DETECTORS` -> its local weights and config (downloaded on first use)."""
    entry = get_detector(name)
    weights = _download(entry, entry.filename, announce=True)
    if entry.sha256:
        _verify(weights, entry.sha256, f"detector {entry.name} ({weights})")
    assert entry.config_file is not None
    return ResolvedModel(weights, _download(entry, entry.config_file, announce=False), entry)


def zoo_entry(name: str) -> ZooModel:
    """The row of a model or detector name, or one error listing both tables."""
    key = name.lower()
    if key in MODELS:
        return MODELS[key]
    if key in DETECTORS:
        return DETECTORS[key]
    raise UsageError(f"unknown model {name!r}; models: {', '.join(MODELS)}; detectors: {', '.join(DETECTORS)}")


def download(name: str) -> ResolvedModel:
    """Fetch a model or detector of the tables into the cache now (resumable, verified where a digest is on record)."""
    entry = zoo_entry(name)
    return resolve_detector(entry.name) if entry.family == "detector" else _fetch_model(entry)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder in use (``$HF_HUB_CACHE`` / ``$HF_HOME/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)
