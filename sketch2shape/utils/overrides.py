"""Command-line overrides checked against the composed config before a task starts.

Two mistakes a new user makes get a one-line :class:`~sketch2shape.utils.config.ConfigError`
here, in a fraction of a second, before the task imports torch:

* a mistyped key in a plain override (``trainer.max_epocs=1``, ``sede=3``,
  ``model.decoder.hiden_dim=3``). Hydra refuses it too, but in six lines that advise adding the typo
  with ``+``; here it is ``unknown trainer key 'max_epocs' (did you mean 'max_epochs'?); accepted:
  ...``, the wording of the tasks' own strict checks (:func:`sketch2shape.utils.config.check_keys`).
  Only where no key is a close match does the message say how to add a key the config does not
  list (``+key=value``).
* a value of the wrong type for a key whose default is an integer, a number or a boolean
  (``seed=abc``: ``seed='abc' must be an integer (default: 42)``). The YAML configs carry no schema,
  so Hydra passes any value on and the task failed much later with a traceback from whatever
  library read it (``int('abc')`` in Lightning). A key whose default is a float takes an integer
  too; ``null`` and ``${...}`` interpolations are always let through, and so are the keys of
  :data:`ALSO_ACCEPTS`, which take other types as well (``trainer.devices=auto``). The optimize
  tasks' ``train``, ``prior_idx`` and ``save_mesh`` take the words of :data:`BOOL_WORDS` too.

Anything else (an unknown option of a config group such as ``+data=procedural_chair_61``, a
syntax error, keys under ``hydra``) is left to Hydra, whose messages for those are good. Keys
added with ``+`` / ``++`` that the config does not list are left to the tasks' strict checks,
which know what each node accepts.

Only Hydra's and OmegaConf's public API are used: the override parser that Hydra's plugins use
and :func:`hydra.compose`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sketch2shape.utils.config import FALSE_WORDS, TRUE_WORDS, ConfigError, check_keys, suggestion

# Keys whose default is an int / float / bool but that take other values too (Lightning's Trainer
# arguments: devices=auto or devices=[0,1], deterministic=warn; ModelCheckpoint's save_last=link).
# Matched against the end of the dotted key.
ALSO_ACCEPTS = ("trainer.devices", "trainer.deterministic", "save_last")

# Top-level keys of the optimize tasks that :func:`sketch2shape.utils.config.as_bool` reads, which
# takes its TRUE_WORDS and FALSE_WORDS too (``train=Train`` is how the original README spells it).
WORDY_BOOLS = ("train", "prior_idx", "save_mesh")
BOOL_WORDS = TRUE_WORDS + FALSE_WORDS


def _kind(default: Any) -> tuple[type | tuple[type, ...], str] | None:
    """The types a key with value ``default`` takes, and how a message says so; None: any."""
    if isinstance(default, bool):
        return bool, "true or false"
    if isinstance(default, int):
        return int, "an integer"
    if isinstance(default, float):
        return (int, float), "a number"
    return None


def check_value(key: str, value: Any, default: Any) -> None:
    """Raise :class:`ConfigError` when ``value`` given for ``key`` is not of the type of its
    ``default`` (see the module docstring)."""
    kind = _kind(default)
    if kind is None or value is None or any(key == k or key.endswith("." + k) for k in ALSO_ACCEPTS):
        return
    types, words = kind
    if isinstance(value, str) and "${" in value:  # an interpolation: resolved later
        return
    if types is bool and key in WORDY_BOOLS:
        if str(value).strip().lower() in BOOL_WORDS:
            return
        words += f" (also {', '.join(w for w in BOOL_WORDS if w not in ('true', 'false'))})"
    if isinstance(value, types) and (types is bool or not isinstance(value, bool)):
        return
    raise ConfigError(f"{key}={value!r} must be {words} (default: {str(default).lower() if isinstance(default, bool) else default})")


def _values(override) -> list[Any]:
    """The values a (possibly sweeping) override sets; [] when they cannot be listed."""
    if not override.is_sweep_override():
        return [override.value()]
    try:
        return list(override.sweep_iterator())
    except Exception:  # an interval sweep: not a list of values
        return []


def _is_group(key: str, conf_dir: Path) -> bool:
    return "/" in key or key == "hydra" or key.startswith("hydra.") or (conf_dir / key).is_dir()


def _refuse_unknown(key: str, accepted: list[str], where: str, line: str) -> None:
    """Raise :class:`ConfigError` for ``key`` that node ``where`` (keys ``accepted``) lacks, in the
    words of :func:`check_keys`; without a close match, also how to add a key on purpose."""
    try:
        check_keys([key], accepted, where)
    except ConfigError as err:
        hint = "" if suggestion(key, accepted) else f"; to add a key the config does not list, write +{line}"
        raise ConfigError(f"{err}{hint}") from None


def refuse_unquoted_equals(parser, line: str) -> None:
    """Raise :class:`ConfigError` for an override Hydra cannot parse because its value holds ``=``
    (a checkpoint named ``epoch=0000.ckpt`` pasted as ``ckpt_path=...``: Hydra says only
    ``mismatched input '='``), saying how to quote it; otherwise return."""
    key, equals, value = line.partition("=")
    if not equals or "=" not in value or value[:1] in ("'", '"'):
        return
    try:
        parser.parse_overrides([line])
    except Exception:
        raise ConfigError(f"{line}: the value holds '=', which Hydra's override syntax reserves; quote the value, e.g. "
                          f"'{key}=\"{value}\"' (single quotes for the shell, double quotes for Hydra)") from None


def check_overrides(overrides: Sequence[str], conf_dir: Path, config_name: str) -> None:
    """Raise :class:`ConfigError` for the first override of ``overrides`` (as Hydra gets them: after
    :func:`sketch2shape.utils.hydra.normalize_overrides`) that changes a key the config does not
    have, or gives a typed key a value of another type. Returns quietly when the overrides are
    fine, and also when they cannot be checked here (Hydra then reports what is wrong)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import DictConfig, OmegaConf

    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(list(overrides))
    except Exception:  # a syntax error: Hydra says where, except for the common case below
        for line in overrides:
            refuse_unquoted_equals(parser, line)
        return
    values, base = [], []
    for override in parsed:
        key = override.key_or_group
        if override.is_delete() or override.package is not None or _is_group(key, conf_dir):
            if override.is_sweep_override():  # a multirun over groups: no single config to check against
                return
            base.append(override.input_line)
        else:
            values.append(override)
    if not values:
        return
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            cfg = compose(config_name, overrides=base)
    except Exception:  # e.g. an unknown option of a group: Hydra lists the options
        return

    added: list[str] = []
    for override in values:
        key = override.key_or_group
        if override.is_add() or override.is_force_add():
            added.append(key)
        node, parts = cfg, key.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, DictConfig):
                break  # into a list or a value: Hydra decides
            if part not in node.keys():
                if override.is_add() or override.is_force_add() or any(key == a or key.startswith(a + ".") for a in added):
                    break  # added on purpose: the task's strict checks decide whether anything reads it
                accepted = [str(k) for k in node.keys() if not str(k).startswith("_")]  # not _target_ and the like
                _refuse_unknown(part, accepted, ".".join(parts[:depth]) or "top-level", override.input_line)
            if OmegaConf.is_interpolation(node, part) or OmegaConf.is_missing(node, part):
                break  # its value comes from elsewhere or is given later: nothing to compare with
            if depth == len(parts) - 1:
                if not OmegaConf.is_config(node[part]):
                    for value in _values(override):
                        check_value(key, value, node[part])
            else:
                node = node[part]
