"""The release models shipped with the package, one folder per model (``<name>/deepsdf.pt``,
``sketch_encoder.pt``, ``model_card.md``), named in :data:`PRETRAINED_MODELS`. Torch-free, so
that the command line checks a model name before its slow imports.

Made by ``sketch2shape train-release``; loaded by :mod:`sketch2shape.models.checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
"""Where the shipped release models live (inside the installed package), one folder per model."""


@dataclass(frozen=True)
class PretrainedModel:
    """A release model shipped in ``PRETRAINED_DIR/<name>/`` (``deepsdf.pt``, ``sketch_encoder.pt``,
    ``model_card.md``), made by ``sketch2shape train-release --data <data>``."""

    name: str
    data: str  # the data config it is trained on
    about: str  # one line for help texts

    @property
    def folder(self) -> Path:
        return PRETRAINED_DIR / self.name

    def files(self) -> dict[str, Path]:
        """``{"deepsdf": ..., "sketch_encoder": ...}``: the two model files."""
        return {"deepsdf": self.folder / "deepsdf.pt", "sketch_encoder": self.folder / "sketch_encoder.pt"}

    def available(self) -> bool:
        return all(path.is_file() for path in self.files().values())


PRETRAINED_MODELS: dict[str, PretrainedModel] = {
    model.name: model
    for model in (
        PretrainedModel("chairs", "chair_mix", "the built-in chairs and 3,419 real ShapeNetCore chairs (ShapeNet's non-commercial terms)"),
        PretrainedModel("procedural", "procedural_chair_1024", "the built-in procedural chairs only (no third-party data)"),
    )
}
"""The release models by name (``sketch2shape reconstruct --model NAME``, the app's ``model``)."""
DEFAULT_MODEL = "chairs"
"""The model used when none is named."""


def pretrained_model(name: str | None = None) -> PretrainedModel:
    """The release model called ``name`` (None: :data:`DEFAULT_MODEL`). Raises ValueError naming
    the accepted names."""
    name = DEFAULT_MODEL if name is None else str(name)
    if name not in PRETRAINED_MODELS:
        raise ValueError(f"model {name!r} is not a pretrained model; accepted: {', '.join(PRETRAINED_MODELS)}")
    return PRETRAINED_MODELS[name]


def release_model_for(data: str) -> PretrainedModel | None:
    """The release model trained on data config ``data`` (where ``train-release`` exports it), if any."""
    return next((model for model in PRETRAINED_MODELS.values() if model.data == data), None)
