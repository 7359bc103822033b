"""Reading settings out of config nodes, strictly.

Hydra refuses a misspelled key on the command line (``data.preprocess_sdf.num_sampels=1000``),
but not one added with ``+`` or ``++`` (``+data.preprocess_sdf.num_sampels=1000``), and a
hand-written mapping (a test, a notebook, ``sketch2shape/conf/app.yaml``) is checked by nobody. Every
``from_config`` helper of this package therefore reads its node through :func:`check_keys` /
:func:`dataclass_kwargs`, which refuse a key nobody reads with a :class:`ConfigError` naming the
key, the config node and the keys it accepts::

    unknown data.preprocess_sdf key 'num_sampels' (did you mean 'num_samples'?);
    accepted: near_surface_stds, num_samples, shell, sign_method, ...

:class:`ConfigError` is a ``ValueError``; the scripts' :func:`sketch2shape.utils.hydra.hydra_entry`
turns it into a one-line exit (no traceback), also when it surfaces wrapped (e.g. by Hydra's
``instantiate``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any


class ConfigError(ValueError):
    """A config node holds a key that nothing reads (a misspelling, or a key of another node), or a
    setting outside its accepted values."""


def plain(node: Any) -> Any:
    """Config nodes as plain containers (checkpoints then load without OmegaConf objects);
    anything else is returned unchanged."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    return OmegaConf.to_container(node, resolve=True) if isinstance(node, (DictConfig, ListConfig)) else node


def suggestion(key: str, accepted: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the accepted key closest to ``key`` (difflib), or ``""``."""
    close = difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(node: Mapping[str, Any] | Iterable[str] | None, accepted: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` unless every key of ``node`` (a mapping, or the keys themselves)
    is in ``accepted``; the message names the unknown key(s), the node ``where`` (its path in the
    config, e.g. ``data.preprocess_sdf``) and the accepted keys."""
    keys = list(node.keys()) if isinstance(node, Mapping) else list(node or ())
    accepted = sorted(set(accepted))
    unknown = [k for k in keys if k not in accepted]
    if not unknown:
        return
    if len(unknown) == 1:
        named = f"key {unknown[0]!r}{suggestion(unknown[0], accepted)}"
    else:
        named = "keys " + ", ".join(f"{k!r}{suggestion(k, accepted)}" for k in unknown)
    raise ConfigError(f"unknown {where} {named}; accepted: {', '.join(accepted) or '(none)'}")


TRUE_WORDS = ("true", "yes", "1", "on", "train")  # "train=Train" is how the original README spells it
FALSE_WORDS = ("false", "no", "0", "off")


def as_bool(value, key: str) -> bool:
    """Read a boolean config value leniently (``train=Train`` of the original README is True)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{key}={value!r} is not a boolean; accepted: True/False (also {', '.join(TRUE_WORDS + FALSE_WORDS)})")


def field_names(cls: type) -> tuple[str, ...]:
    """The field names of dataclass ``cls``, in declaration order."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return tuple(f.name for f in fields(cls))


def dataclass_kwargs(cls: type, node: Mapping[str, Any] | None, where: str, extra: Iterable[str] = ()) -> dict[str, Any]:
    """The entries of ``node`` that are fields of dataclass ``cls``, as a plain dict.

    Any other key raises :class:`ConfigError` (see :func:`check_keys`), except those in
    ``extra``: keys of the same node that another reader uses (e.g. ``optim.points_per_step``
    next to the :class:`~sketch2shape.optimize.latent.LatentOptimSettings` fields); they are
    accepted and left out of the result.
    """
    values = dict(plain(node) or {})
    names = field_names(cls)
    check_keys(values, (*names, *extra), where)
    return {k: v for k, v in values.items() if k in names}


def find_config_error(err: BaseException | None) -> ConfigError | None:
    """``err`` itself or the first :class:`ConfigError` it was raised from (``__cause__`` /
    ``__context__`` chain), else None."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, ConfigError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None
