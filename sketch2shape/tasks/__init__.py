"""The project's Hydra tasks, one module each, composed from the configs in ``sketch2shape/conf/``.

Each module has a ``main()`` (a :func:`sketch2shape.utils.hydra.hydra_entry` app) that reads
``key=value`` overrides from the command line. Three ways to run the same function:

    sketch2shape train_deepsdf +data=procedural_chair_16
    python -m sketch2shape.tasks.train_deepsdf +data=procedural_chair_16
    python scripts/train_deepsdf.py +data=procedural_chair_16      # from a clone: the original README's form

A wheel install has the first two (the configs ship inside the package); ``python -m sketch2shape
<task>`` is the first. The docstring's example lines are written with ``sketch2shape <task>``;
``--help`` shows them with the command it was given. A task module imports what its work needs
inside ``main``, so importing it, its ``--help`` and a mistyped flag answer quickly, without torch.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Task names in the order the method uses them (data, DeepSDF, Siamese, encoder, sketch -> shape).
TASKS = (
    "copy_shapenet", "preprocess_data", "train_deepsdf", "optimize_deepsdf", "traverse_latent",
    "train_siamese", "eval_siamese", "optimize_normals", "optimize_sketch", "make_sketch_pairs",
    "train_sketch_encoder", "eval_sketch_to_shape",
)


def task_module(name: str) -> ModuleType:
    """The module of task ``name``; raises ``KeyError`` naming the accepted tasks for another name."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return importlib.import_module(f"{__name__}.{name}")
