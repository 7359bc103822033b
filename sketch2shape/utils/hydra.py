"""Thin Hydra entry points shared by every script.

The original README mixes ``data=...`` and ``+data=...`` on the command line. In Hydra, ``+group=``
appends a group that the primary config does not list, and fails for one it does. Every script
here lists ``data`` (so it has a sensible default), so :func:`normalize_overrides` rewrites the
``+`` form of listed groups to a plain override and ``+key=value`` of plain keys to ``++key=value``
(add or override). Both spellings of every README command line therefore work.

Every task takes ``device=auto|cpu|cuda|cuda:<index>`` (also where its config has no such key):
:func:`hydra_entry` checks it before the task starts and stops with a one-line message when it
cannot be honoured (:func:`sketch2shape.utils.device.check_task_device`).

A missing input file (``FileNotFoundError``: data not preprocessed, a checkpoint path that does
not exist) ends the task the same way, with the message that names the file and the command that
makes it.

A config key that nothing reads (``+data.preprocess_sdf.num_sampels=1000``: Hydra adds it without
complaint) makes the task's ``from_config`` helpers raise
:class:`sketch2shape.utils.config.ConfigError`; :func:`hydra_entry` turns it into a one-line exit
``<task>: unknown <node> key '<key>' ...; accepted: ...`` (exit status 1, no traceback), also when
it arrives wrapped in another exception (Hydra's ``instantiate`` wraps what a constructor raises).

Before Hydra composes the run, the overrides are checked against the task's config
(:func:`check_task_overrides`, :mod:`sketch2shape.utils.overrides`): a mistyped key in a plain
override (``trainer.max_epocs=1``) and a value of the wrong type for a typed key (``seed=abc``) end
the task in one line (exit status 1) that names the key it most likely means or the type it takes,
in a fraction of a second instead of Hydra's six lines or a traceback from inside the task.

Run folders: ``sketch2shape/conf/hydra/default.yaml`` names them by the second they start in, through the
``unique_dir`` resolver, which claims the folder atomically and appends ``_2``, ``_3``, ... when a
run that started in the same second already has it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The configs ship inside the package (a wheel has them too).
CONFIG_DIR = PACKAGE_DIR / "conf"

# Keys every task accepts whether or not its config lists them (rewritten to ``++key=value``).
UNIVERSAL_KEYS = ("device",)

_claimed_dirs: dict[str, str] = {}


def unique_dir(base: str) -> str:
    """``base`` or, if that folder exists already, ``base_2``, ``base_3``, ...: created atomically
    (``os.mkdir``), so two processes never get the same folder. Within a process the same
    ``base`` always gives the same answer (Hydra resolves the run folder more than once)."""
    base = str(base)
    if base not in _claimed_dirs:
        Path(base).parent.mkdir(parents=True, exist_ok=True)
        candidate, n = base, 1
        while True:
            try:
                os.mkdir(candidate)
                break
            except FileExistsError:
                n += 1
                candidate = f"{base}_{n}"
        _claimed_dirs[base] = candidate
    return _claimed_dirs[base]


def register_resolvers() -> None:
    """Register this project's OmegaConf resolvers (``unique_dir``); safe to call repeatedly."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("unique_dir"):
        # use_cache: the answer is stored in the config, and Hydra copies that cache into the
        # configs of multirun jobs (as for ${now:}), so jobs in other processes (SLURM) agree.
        OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True)


register_resolvers()


def config_dir() -> Path:
    """The Hydra config folder: ``$SKETCH2SHAPE_CONFIG_DIR`` or the package's own ``sketch2shape/conf/``."""
    path = Path(os.environ.get("SKETCH2SHAPE_CONFIG_DIR", CONFIG_DIR))
    if not (path / "paths").is_dir():
        raise FileNotFoundError(
            f"no Hydra config folder at {path} (expected sketch2shape/conf/ with paths/, data/, ...). Install the "
            "package again (`pip install .`) or point SKETCH2SHAPE_CONFIG_DIR at a copy of sketch2shape/conf/."
        )
    return path


def _groups_in_defaults(conf_dir: Path, config_name: str) -> set[str]:
    primary = yaml.safe_load((conf_dir / f"{config_name}.yaml").read_text()) or {}
    groups: set[str] = set()
    for entry in primary.get("defaults", []):
        if isinstance(entry, dict):
            for key in entry:
                key = key.removeprefix("override ").removeprefix("optional ").strip()
                groups.add(key.split("@")[0].lstrip("/"))
    return groups


def normalize_overrides(args: Sequence[str], conf_dir: Path, config_name: str) -> list[str]:
    """Rewrite ``+name=value`` overrides so both README spellings work (see module docstring)."""
    listed = _groups_in_defaults(conf_dir, config_name)
    out = []
    for arg in args:
        if arg.split("=", 1)[0] in UNIVERSAL_KEYS and "=" in arg:
            arg = "++" + arg
        elif arg.startswith("+") and not arg.startswith("++") and "=" in arg:
            name = arg[1:].split("=", 1)[0].split("@")[0]
            if name in listed:
                arg = arg[1:]
            elif not (conf_dir / name).is_dir():
                arg = "+" + arg
        out.append(arg)
    return out


def task_command(config_name: str) -> str:
    """How the running task was started, as a user would type it again: ``sketch2shape <task>`` or
    ``python -m sketch2shape <task>`` (:func:`sketch2shape.cli.run_task` puts that in ``sys.argv[0]``),
    ``python scripts/<task>.py`` as typed, or ``python -m sketch2shape.tasks.<task>``."""
    first = sys.argv[0] if sys.argv else ""
    if first.startswith(("sketch2shape ", "python -m sketch2shape ")):
        return first
    path = Path(first)
    if path.suffix == ".py" and path.resolve().parent == PACKAGE_DIR / "tasks":
        return f"python -m sketch2shape.tasks.{path.stem}"
    if path.suffix == ".py":
        return f"python {first}"
    return f"sketch2shape {config_name}"


def task_help(doc: str, config_name: str, command: str) -> str:
    """A task module's docstring for its ``--help``: the example lines, written with the installed
    command (``sketch2shape <task> ...``), start with ``command``, the way this run was started
    (:func:`task_command`: ``python scripts/<task>.py ...`` from a clone)."""
    prefix = f"sketch2shape {config_name}"
    lines = []
    for line in doc.splitlines():
        body = line.lstrip()
        if body == prefix or body.startswith(prefix + " "):
            line = line[: len(line) - len(body)] + command + body[len(prefix):]
        lines.append(line)
    return "\n".join(lines)


def check_hydra_flags(args: Sequence[str], command: str) -> None:
    """Exit (status 2) with one line and a hint, not Hydra's usage block, for a ``--flag`` Hydra does
    not take (naming the one it most likely means) or a bad value of one of its flags."""
    try:
        from hydra._internal.utils import get_args_parser  # Hydra's own parser (hydra-core 1.3)
    except ImportError:  # another Hydra: it reports its own errors
        return
    from sketch2shape.utils.suggest import closest_options

    def error(message: str) -> None:
        sys.stderr.write(f"{command}: error: {message}\nrun '{command} --help' for the options\n")
        raise SystemExit(2)

    parser = get_args_parser()
    parser.prog, parser.error = command, error
    _, unknown = parser.parse_known_args(list(args))
    if unknown:
        options = sorted({o for action in parser._actions for o in action.option_strings if o.startswith("--")})
        named = []
        for arg in unknown:
            close = closest_options(arg.split("=", 1)[0], options) if arg.startswith("-") else []
            named.append(f"{arg} (did you mean {' or '.join(close)}?)" if close else arg)
        error(f"unrecognized arguments: {', '.join(named)}; it takes key=value overrides and Hydra's flags {', '.join(options)}")


def check_task_overrides(args: Sequence[str], conf_dir: Path, config_name: str) -> None:
    """Exit (status 1) with one line for an override that changes a key the config does not have or
    gives a typed key a value of another type (:func:`sketch2shape.utils.overrides.check_overrides`),
    before the task imports anything slow. ``args``: the command line after :func:`normalize_overrides`.
    Left to Hydra where a flag picks another config (``--config-name``, ...) or only prints help."""
    try:
        from hydra._internal.utils import get_args_parser  # as in check_hydra_flags
    except ImportError:
        return
    from sketch2shape.utils.config import ConfigError
    from sketch2shape.utils.overrides import check_overrides

    flags, _ = get_args_parser().parse_known_args(list(args))
    elsewhere = ("help", "hydra_help", "info", "shell_completion", "experimental_rerun", "config_name", "config_path", "config_dir")
    if any(getattr(flags, name, None) for name in elsewhere):
        return
    try:
        check_overrides(flags.overrides, conf_dir, config_name)
    except ConfigError as err:
        raise SystemExit(f"{config_name}: {err}") from None


def hydra_entry(config_name: str, cpu_only: bool = False) -> Callable[[Callable], Callable[[], object]]:
    """Decorate ``main(cfg)`` as a Hydra app over the project's ``sketch2shape/conf/`` folder.

    ``--help`` prints the task module's docstring (:func:`task_help`), then Hydra's help. The task
    modules import their work inside ``main``, so their ``--help`` and mistakes in their flags
    answer without importing torch.

    Hydra's flags are checked first (:func:`check_hydra_flags`: a mistyped one ends in one line),
    then the overrides (:func:`check_task_overrides`: a mistyped key or a wrongly typed value).
    ``device=`` is checked before ``main`` runs (see the module docstring); ``cpu_only`` marks a
    task without GPU code, which says so when given ``device=cuda``. A
    :class:`~sketch2shape.utils.config.ConfigError` from ``main`` (an unknown config key) ends the
    task with a one-line message instead of a traceback.
    """
    import hydra

    def decorator(task: Callable) -> Callable[[], object]:
        @functools.wraps(task)
        def checked(cfg) -> object:
            from sketch2shape.utils.config import find_config_error
            from sketch2shape.utils.device import check_task_device

            check_task_device(cfg, config_name, cpu_only=cpu_only)
            try:
                return task(cfg)
            except FileNotFoundError as err:  # an input not made yet: the message names it and the command that makes it
                raise SystemExit(f"{config_name}: {err}") from None
            except Exception as err:
                config_error = find_config_error(err)
                if config_error is None:
                    raise
                raise SystemExit(f"{config_name}: {config_error}") from None

        @functools.wraps(task)
        def run() -> object:
            command = task_command(config_name)
            check_hydra_flags(sys.argv[1:], command)
            if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
                # What the task does and how to call it (the task module's docstring), then Hydra's help.
                doc = (sys.modules.get(task.__module__).__doc__ or "").strip() if task.__module__ in sys.modules else ""
                if doc:
                    print(task_help(doc, config_name, command) + "\n")
            conf_dir = config_dir()
            sys.argv = [sys.argv[0], *normalize_overrides(sys.argv[1:], conf_dir, config_name)]
            check_task_overrides(sys.argv[1:], conf_dir, config_name)
            app = hydra.main(version_base="1.3", config_path=str(conf_dir), config_name=config_name)(checked)
            return app()

        return run

    return decorator


def hydra_task(config_name: str, function: Callable[[object], str], module: str, cpu_only: bool = False) -> Callable[[], object]:
    """The ``main`` of a task whose work is one library function ``function(cfg) -> summary``:
    a :func:`hydra_entry` app that logs the summary under the task's name. ``module``: the task
    module's ``__name__``, whose docstring ``--help`` prints."""
    import logging

    def main(cfg) -> None:
        logging.getLogger(config_name).info(function(cfg))

    main.__module__, main.__qualname__ = module, "main"
    return hydra_entry(config_name, cpu_only)(main)


def compose(config_name: str, overrides: Sequence[str] = ()) -> "object":
    """Compose a config outside a Hydra app (tests, the ``sketch2shape`` CLI, notebooks).

    ``hydra:`` interpolations are not available here; ``paths.output_dir`` must be overridden
    by the caller when a run folder is needed.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf_dir = config_dir()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return hydra_compose(config_name, overrides=normalize_overrides(list(overrides), conf_dir, config_name))
