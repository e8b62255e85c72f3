"""The family table: every model family registered in one place, and the only place that tells families apart.

A family is one module in this package holding its row (:class:`Family`): its config type, network and model
wrapper, how its checkpoints are recognised and sized, how its official config files are read, and where its
training code lives. Every other module asks the table (``family_of_config``, ``family_of_network``,
``family_of_state``, ``family_named``), never ``isinstance`` or a family string. Adding a family is one module
with a ``FAMILY`` row plus its name in :data:`BUILTIN` (or a :func:`register` call for a family kept outside the
package, as the toy family of ``tests/test_family_table.py``).

Rows load on first use, so importing the zoo or the CLI stays light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

#: The package's families, by module name in this package; the first is the default (configs without a
#: ``family`` key, checkpoints no other family claims).
BUILTIN: tuple[str, ...] = ("smplest_x", "smpler_x")


@dataclass(frozen=True)
class Family:
    """One model family: what every stage needs to know about it, and nothing any stage should guess."""

    name: str  # in configs (``family``), safetensors metadata, ``smplestx info``, training configs, the zoo
    title: str  # for people: "SMPLest-X"
    config_type: type  # the typed config (frozen dataclass with to_dict / from_dict)
    network: Callable[[Any], Any]  # config -> the network (a torch module with .config)
    wrapper: Callable[..., Any]  # (network, body) -> the model (network + body model + crop camera)
    presets: dict[str, Any]  # size name -> config
    infer_config: Callable[[dict, str], Any]  # (state dict, source) -> config from tensor shapes
    owns_state: Callable[[dict], bool]  # does a (mapped) state dict belong to this family?
    is_official_config: Callable[[str | Path], bool]  # is this official config file one of ours?
    load_official_config: Callable[[str | Path], Any]  # read one (as data) into the typed config
    training: str  # dotted module of its training adapter (train/), imported when a run trains it
    predicts_boxes: bool = False  # hand / face boxes among the network's outputs (and an exported graph's)
    size_aliases: tuple[str, ...] = field(default_factory=tuple)  # more size names training configs accept
    preset_for: Callable[[str], Any] | None = None
    key_renames: tuple[tuple[str, str], ...] = ()  # (old, new) key substrings of its older checkpoints  # size name (aliases included) -> config, when not presets[name]

    def config_from_dict(self, data: dict) -> Any:
        """The typed config of a ``to_dict`` mapping."""
        return self.config_type.from_dict(data)

    def preset(self, size: str) -> Any:
        """The config of a released size (KeyError when there is none of that name)."""
        return self.preset_for(size) if self.preset_for is not None else self.presets[size.upper()]

    def knows_size(self, size: str) -> bool:
        """Whether ``size`` names a released size (or an alias of one)."""
        return size.upper() in {*self.presets, *self.size_aliases}


_TABLE: dict[str, Family] = {}
_LOADED = False


def register(family: Family) -> Family:
    """Add a family to the table (a name already taken by another row is refused)."""
    held = _TABLE.get(family.name)
    if held is not None and held is not family:
        raise ValueError(f"a model family named {family.name!r} is registered already")
    _TABLE[family.name] = family
    return family


def unregister(name: str) -> None:
    """Remove a family added with :func:`register` (tests); built-in families cannot be removed."""
    if name in BUILTIN:
        raise ValueError(f"{name!r} is a built-in family")
    _TABLE.pop(name, None)


def families() -> dict[str, Family]:
    """Every registered family by name, the default first."""
    global _LOADED
    if not _LOADED:
        for name in BUILTIN:
            register(importlib.import_module(f".{name}", __name__).FAMILY)
        _LOADED = True
    return dict(_TABLE)


def default_family() -> Family:
    """The family of configs without a ``family`` key and of checkpoints no other family claims."""
    return families()[BUILTIN[0]]


def family_named(name: str) -> Family:
    """The family of a name; an unknown name is a KeyError listing the known ones."""
    table = families()
    if name not in table:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(table)}")
    return table[name]


def family_of_config(config: Any) -> Family:
    """The family whose config type ``config`` is (exact type: a subclass of another family's config is its own)."""
    for fam in families().values():
        if type(config) is fam.config_type:
            return fam
    raise TypeError(f"no model family has configs of type {type(config).__name__}")


def is_model_config(obj: Any) -> bool:
    """Whether ``obj`` is a typed config of a registered family."""
    return any(type(obj) is fam.config_type for fam in families().values())


def family_of_network(net: Any) -> Family:
    """The family of a built network (torch or ONNX Runtime): the one of its config."""
    return family_of_config(net.config)


def family_of_state(state: dict) -> Family:
    """The family a (mapped) state dict belongs to: the first non-default family that claims it, else the default."""
    table = families()
    for name, fam in table.items():
        if name != BUILTIN[0] and fam.owns_state(state):
            return fam
    return default_family()


def family_of_official_config(path: str | Path) -> Family:
    """The family an official config file belongs to (the default when no other family claims it)."""
    table = families()
    for name, fam in table.items():
        if name != BUILTIN[0] and fam.is_official_config(path):
            return fam
    return default_family()


def config_from_dict(data: dict) -> Any:
    """The typed config of any family's ``to_dict`` mapping (the ``family`` key picks it; absent: the default)."""
    name = data.get("family", BUILTIN[0]) if isinstance(data, dict) else BUILTIN[0]
    try:
        fam = family_named(str(name))
    except KeyError as exc:
        from .config import ConfigError

        raise ConfigError(str(exc.args[0])) from None
    return fam.config_from_dict(data)
