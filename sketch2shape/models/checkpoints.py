"""Model files: the slim release format, the pretrained models shipped in the package, and one
safe loader for every checkpoint a user passes (Lightning run checkpoints or release files).

Release files (``sketch2shape/pretrained/*.pt``, written by :func:`export_deepsdf` /
:func:`export_sketch_encoder`) are plain dictionaries of tensors, numbers and strings, loaded with
``torch.load(weights_only=True)`` (no code runs while loading)::

    {"format": "sketch2shape.deepsdf", "version": 1, "hparams": {...}, "state_dict": {...}}
    {"format": "sketch2shape.sketch_encoder", "version": 1, "net_args": {...}, "state_dict": {...}}

A Lightning checkpoint of ``train_deepsdf`` / ``train_sketch_encoder`` loads through the same
functions, so a model trained on ShapeNet plugs in wherever the shipped one does. A file that is
neither raises :class:`CheckpointError` naming the file and the kind that was expected (and never
suggests unsafe loading).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from sketch2shape.models.shape_space import ShapeSpace
from sketch2shape.models.sketch_encoder import SketchEncoderNet, file_sha256
from sketch2shape.pretrained import (  # noqa: F401  (defined there, torch-free; used here and by callers)
    DEFAULT_MODEL,
    PRETRAINED_DIR,
    PRETRAINED_MODELS,
    PretrainedModel,
    pretrained_model,
    release_model_for,
)
from sketch2shape.utils.io import atomic_path, write_json, write_text

PRETRAINED = pretrained_model().files()
"""The default model's files."""
KINDS = {"deepsdf": "a DeepSDF model (train_deepsdf)", "sketch_encoder": "a sketch encoder (train_sketch_encoder)"}


class CheckpointError(ValueError):
    """A file that is not a sketch2shape checkpoint of the expected kind (the message names it)."""


def _read(path: str | Path, kind: str) -> dict[str, Any]:
    path = Path(str(path))
    if not path.is_file():
        raise FileNotFoundError(f"{kind} checkpoint {path} does not exist")
    what = KINDS[kind]
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise CheckpointError(f"{path} is not a sketch2shape checkpoint of {what}: it is not a readable PyTorch checkpoint file (another kind of file, or a truncated one)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path} is not a sketch2shape checkpoint of {what}: it cannot be read as a PyTorch checkpoint ({type(err).__name__})") from None
    except Exception as err:  # pickle.UnpicklingError: objects a weights-only load refuses
        raise CheckpointError(
            f"{path} is not a sketch2shape checkpoint of {what}: it holds objects other than tensors and settings "
            f"({type(err).__name__}), which sketch2shape does not load"
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a sketch2shape checkpoint of {what}: it holds a {type(data).__name__}, not a checkpoint dictionary")
    return data


def _kind_error(path: Path, kind: str, data: dict) -> CheckpointError:
    found = data.get("format") or ("a Lightning checkpoint of another model" if "state_dict" in data else "no model")
    return CheckpointError(f"{path} is not a sketch2shape checkpoint of {KINDS[kind]} (it holds {found})")


def load_deepsdf_file(path: str | Path, device: str | torch.device = "cpu") -> ShapeSpace:
    """A trained shape space (:class:`~sketch2shape.models.shape_space.ShapeSpace`, eval mode,
    frozen; no Lightning import) from a release file or a ``train_deepsdf`` Lightning checkpoint.
    Raises ``FileNotFoundError`` or :class:`CheckpointError`."""
    path = Path(str(path))
    data = _read(path, "deepsdf")
    if data.get("format") == "sketch2shape.deepsdf":
        hparams, state = dict(data["hparams"]), data["state_dict"]
    elif "state_dict" in data and "latents.weight" in data["state_dict"] and "hyper_parameters" in data:
        hparams, state = dict(data["hyper_parameters"]), data["state_dict"]
    else:
        raise _kind_error(path, "deepsdf", data)
    model = ShapeSpace(**hparams)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: its weights do not match its own settings ({str(err).splitlines()[0]})") from None
    return model.eval().requires_grad_(False).to(torch.device(device))


def load_deepsdf(ckpt_path: str | Path | None, device: str | torch.device = "cpu") -> ShapeSpace:
    """A task's ``ckpt_path`` (the DeepSDF checkpoint or release file): :func:`load_deepsdf_file`,
    with a ``ValueError`` that says what to pass when it is not set."""
    if not ckpt_path:
        raise ValueError("ckpt_path is required: the DeepSDF checkpoint, e.g. ckpt_path=logs/train_deepsdf/runs/<time>/checkpoints/last.ckpt")
    return load_deepsdf_file(ckpt_path, device)


def load_sketch_encoder_file(path: str | Path, device: str | torch.device = "cpu") -> SketchEncoderNet:
    """A trained :class:`SketchEncoderNet` (eval mode, frozen) from a release file or a
    ``train_sketch_encoder`` Lightning checkpoint. Raises ``FileNotFoundError`` or
    :class:`CheckpointError`."""
    path = Path(str(path))
    data = _read(path, "sketch_encoder")
    if data.get("format") == "sketch2shape.sketch_encoder":
        net = SketchEncoderNet(**dict(data["net_args"]))
        state = data["state_dict"]
    elif "state_dict" in data and "hyper_parameters" in data and "net.codes" in data["state_dict"]:
        hp = data["hyper_parameters"]
        deepsdf = dict(hp["deepsdf"])
        net = SketchEncoderNet(latent_dim=deepsdf["latent_dim"], num_codes=deepsdf["num_codes"], deepsdf=deepsdf, **dict(hp.get("net") or {}))
        state = {k[len("net."):]: v for k, v in data["state_dict"].items() if k.startswith("net.")}
    else:
        raise _kind_error(path, "sketch_encoder", data)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: its weights do not match its own settings ({str(err).splitlines()[0]})") from None
    return net.eval().requires_grad_(False).to(torch.device(device))


def _same_payload(a: Any, b: Any) -> bool:
    """Whether two release payloads (nested dicts, lists, tensors, plain values) hold the same values."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_payload(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_payload(x, y) for x, y in zip(a, b))
    return a == b


def save_release_file(payload: dict[str, Any], path: str | Path) -> Path:
    """Write a release payload to ``path`` atomically and reproducibly: the same payload gives the
    same bytes (``torch.save`` into memory first, so the archive is not named after a temporary
    file), and a file that already holds the same values is left as it is (re-exporting a release
    whose shape space did not change adds nothing to a repository's history)."""
    import io

    path = Path(path)
    if path.is_file():
        try:
            if _same_payload(torch.load(path, map_location="cpu", weights_only=True), payload):
                return path
        except Exception:  # unreadable or another format: overwritten below
            pass
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    return path


def export_deepsdf(model: ShapeSpace, path: str | Path) -> Path:
    """Write the slim release file of a DeepSDF (weights, codes, settings; no optimizer state)."""

    hparams = {k: v for k, v in dict(model.hparams).items() if not k.startswith("_")}
    hparams["train_obj_ids"] = [str(i) for i in model.train_obj_ids]
    payload = {"format": "sketch2shape.deepsdf", "version": 1, "hparams": hparams, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return save_release_file(payload, path)


def export_sketch_encoder(net: SketchEncoderNet, net_args: dict[str, Any], path: str | Path) -> Path:
    """Write the slim release file of a sketch encoder; ``net_args`` are its constructor arguments."""

    payload = {"format": "sketch2shape.sketch_encoder", "version": 1, "net_args": net_args, "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    return save_release_file(payload, path)


def pretrained_available(name: str | None = None) -> bool:
    """Whether the package ships the release model ``name`` (default :data:`DEFAULT_MODEL`; a
    source checkout before the first release training has none)."""
    return pretrained_model(name).available()


def encoder_net_args(net: SketchEncoderNet, net_spec: dict[str, Any] | None) -> dict[str, Any]:
    """Constructor arguments that rebuild ``net`` (sizes and the DeepSDF record from the net, the
    rest from its training config ``net_spec``)."""
    args = dict(net_spec or {})
    args.update(latent_dim=net.latent_dim, num_codes=net.num_codes, deepsdf=dict(net.deepsdf))
    return args


def shipped_deepsdf_record(record: dict[str, Any], deepsdf_file: Path) -> dict[str, Any]:
    """An encoder's DeepSDF record (:func:`~sketch2shape.models.sketch_encoder.deepsdf_record`) as it
    is shipped: the DeepSDF is the release file next to the encoder's, named without a folder (the
    training run's absolute path names a folder of the machine it ran on), with that file's hash."""
    return {**record, "ckpt_path": deepsdf_file.name, "ckpt_sha256": file_sha256(deepsdf_file)}


def export_release(deepsdf_ckpt: str | Path, encoder_ckpt: str | Path, out_dir: str | Path, command: str, timings: dict[str, float],
                   machine: str, data: str, parts: list[str] | None = None, experiment: str = "release") -> list[Path]:
    """Write the release files (``deepsdf.pt``, ``sketch_encoder.pt``) and ``model_card.md`` /
    ``model_card.json`` (data config, its parts and terms, seeds, command, wall time per stage,
    machine) into ``out_dir``. ``parts``: the datasets a mixed ``data`` joins (their terms are the
    card's: ShapeNet's when one is a ShapeNet import). Measured metrics are added to the card by
    ``benchmarks/sketch_to_shape.py --model-card``. ``experiment``: the name of the release's
    experiment configs (``sketch2shape/conf/experiment/{train_deepsdf,make_sketch_pairs,
    train_sketch_encoder}/<experiment>.yaml``, where they exist)."""
    import json


    out = Path(out_dir)
    deepsdf = load_deepsdf_file(deepsdf_ckpt)
    encoder = load_sketch_encoder_file(encoder_ckpt)
    encoder.check_compatible(deepsdf, data)
    hp = _read(Path(encoder_ckpt), "sketch_encoder")["hyper_parameters"]
    deepsdf_file = export_deepsdf(deepsdf, out / "deepsdf.pt")
    net_args = encoder_net_args(encoder, hp.get("net"))
    net_args["deepsdf"] = shipped_deepsdf_record(net_args["deepsdf"], deepsdf_file)
    paths = [deepsdf_file, export_sketch_encoder(encoder, net_args, out / "sketch_encoder.pt")]
    card = {
        "data": data,
        "command": command,
        "wall_time_s": {k: round(float(v), 1) for k, v in timings.items()},
        "wall_time_total_s": round(float(sum(timings.values())), 1),
        "machine": machine,
        "deepsdf": {"decoder": dict(deepsdf.hparams.get("decoder") or {}), "num_shapes": int(deepsdf.latents.weight.shape[0]),
                    "seed": 42, "config": f"sketch2shape/conf/experiment/train_deepsdf/{experiment}.yaml"},
        "sketch_encoder": {"net": {k: v for k, v in (hp.get("net") or {}).items() if k != "encoder"}, "encoder": (hp.get("net") or {}).get("encoder"),
                           "seed": hp.get("seed"), "config": f"sketch2shape/conf/experiment/train_sketch_encoder/{experiment}.yaml"},
        "files": {p.name: p.stat().st_size for p in paths},
        "parts": list(parts or []),
        "terms": "ShapeNet: non-commercial research and education only" if any("shapenet" in p for p in parts or [data]) else "no third-party data",
    }
    write_json(out / "model_card.json", card)
    pairs_config = Path(__file__).resolve().parents[1] / "conf" / "experiment" / "make_sketch_pairs" / f"{experiment}.yaml"
    pairs_text = f" with `+experiment/make_sketch_pairs={experiment}`" if pairs_config.is_file() else ""
    minutes = {k: f"{v / 60:.1f} min" for k, v in card["wall_time_s"].items()}
    if parts:
        data_text = (f"`data={data}`, the union of {', '.join(f'`{p}`' for p in parts)} (`sketch2shape/conf/data/{data}.yaml`; "
                     "the built-in procedural chairs and real ShapeNet chairs)")
    else:
        data_text = (f"the built-in procedural chairs (`data={data}`: generator version 2, 1024 train / 64 val / 64 test chairs, "
                     f"`sketch2shape/conf/data/{data}.yaml`)")
    text = f"""# sketch2shape release models

Trained on {data_text}, on {machine}, by

    {command}

| stage | wall time |
|---|---|
""" + "".join(f"| {k} | {v} |\n" for k, v in minutes.items()) + f"""| **total** | **{card['wall_time_total_s'] / 60:.1f} min** |

- `deepsdf.pt`: DeepSDF auto-decoder (Park et al. 2019), decoder {json.dumps(card['deepsdf']['decoder'])}, {card['deepsdf']['num_shapes']} training codes; `{card['deepsdf']['config']}`, seed 42.
- Terms of the training data: {card['terms']}.
- `sketch_encoder.pt`: sketch -> latent code CNN ({json.dumps(card['sketch_encoder']['net'])}), trained on (sketch, code) pairs from random views of the training chairs and decoded in-between codes (`sketch2shape/conf/make_sketch_pairs.yaml`{pairs_text}, seed 42); `{card['sketch_encoder']['config']}`, seed {card['sketch_encoder']['seed']}.
- Files: {', '.join(f'{k} ({v / 1e6:.1f} MB)' for k, v in card['files'].items())}. Loaded with `torch.load(weights_only=True)`.

## Measured

(written by `python benchmarks/sketch_to_shape.py --model-card`)
"""
    write_text(out / "model_card.md", text)
    return [*paths, out / "model_card.md", out / "model_card.json"]


def load_lightning_module(module_cls, path: str | Path, device: str | torch.device, kind: str, hint: str = ""):
    """``module_cls.load_from_checkpoint(path)`` with clear errors: ``FileNotFoundError`` naming the
    file, :class:`CheckpointError` when it is not a checkpoint of ``kind`` (a key of :data:`KINDS`
    or a description), never PyTorch's advice to load it unsafely."""
    path = Path(str(path))
    what = KINDS.get(kind, kind)
    if not path.is_file():
        raise FileNotFoundError(f"{what} checkpoint {path} does not exist{hint}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a sketch2shape checkpoint of {what}: it is not a readable PyTorch checkpoint file (another kind of file, or a truncated one)")
    try:
        return module_cls.load_from_checkpoint(str(path), map_location=torch.device(device))
    except Exception as err:  # a checkpoint of another model, or of an incompatible version
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "weights_only" in str(err):
            first = type(err).__name__
        raise CheckpointError(f"{path} is not a sketch2shape checkpoint of {what} that this version can load ({first})") from None
