"""Library log output, once and without adverts: what :func:`quiet_lightning` changes, and why.

Under a Hydra task, logging is configured before Lightning is imported (the root logger has
Hydra's console and file handlers). ``import lightning`` then adds its own console handler to the
``lightning`` logger (format ``INFO: ...``) and leaves it propagating to the root logger, so every
Lightning line appears twice: ``INFO: Seed set to 42`` and ``[...][lightning...][INFO] - Seed set
to 42``. :func:`quiet_lightning` removes Lightning's own console handlers while the root logger has
handlers, so each line appears once, in the task's format and in the task's log file.

It also drops two messages that are not about the run, each matched exactly:

* :data:`LITLOGGER_TIP`: Lightning's "💡 Tip: ... litlogger" advert, logged at every ``Trainer``
  (Lightning has no option for it), by a :class:`logging.Filter` on the logger that emits it;
* :data:`LEAFSPEC_WARNING`: torch's ``FutureWarning`` that Lightning's own
  ``lightning/pytorch/utilities/_pytree.py`` still uses ``LeafSpec`` (nothing a user can change),
  by a :func:`warnings.filterwarnings` entry for that message, category and module only.

faiss's loader lines (``Could not load library with AVX512 support due to: ModuleNotFoundError``,
harmless: faiss tries its AVX512 and AVX2 builds and falls back) are INFO records of the
``faiss.loader`` logger; the tasks' logging configuration (``sketch2shape/conf/hydra/default.yaml``)
sets that logger to WARNING, so a faiss that fails to load still says so.
"""

from __future__ import annotations

import logging
import warnings

LITLOGGER_TIP = "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]"
LITLOGGER_LOGGER = "lightning.pytorch.utilities.rank_zero"
LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
LEAFSPEC_MODULE = r"lightning\.pytorch\.utilities\._pytree"
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


class DropMessage(logging.Filter):
    """A logging filter that drops the records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


_LITLOGGER_FILTER = DropMessage(LITLOGGER_TIP)


def quiet_lightning() -> None:
    """Make Lightning's log lines appear once and drop its litlogger advert and its LeafSpec
    deprecation warning (see the module docstring). Call it at the start of a task, after logging
    is configured (Hydra's job logging) and before the first Lightning line (``seed_everything``);
    safe to call more than once. Without handlers on the root logger (Lightning used outside a
    configured application), Lightning's own handlers stay: they are then the only output."""
    import lightning  # noqa: F401  (adds Lightning's console handler, which is what is removed here)

    if logging.getLogger().handlers:
        for name in LIGHTNING_LOGGERS:
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                if type(handler) is logging.StreamHandler:  # Lightning's console handlers (not a file handler someone added)
                    logger.removeHandler(handler)
            logger.propagate = True
    rank_zero = logging.getLogger(LITLOGGER_LOGGER)
    if _LITLOGGER_FILTER not in rank_zero.filters:
        rank_zero.addFilter(_LITLOGGER_FILTER)
    warnings.filterwarnings("ignore", message=LEAFSPEC_WARNING, category=FutureWarning, module=LEAFSPEC_MODULE)
