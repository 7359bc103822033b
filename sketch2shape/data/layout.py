"""Where every file of a dataset lives.

::

    <data_dir>/<name>/
        metainfo.csv                 obj_id,label,split
        failures.csv                 shapes a step failed on (obj_id,step,error)
        cameras.json                 the views the normal maps and sketches were rendered from
        shapes/<obj_id>/
            mesh.obj                 the raw mesh as copied (in the project frame) or generated
            import.json              where a copied mesh came from, its ShapeNet version, the rotation applied
            normalized_mesh.obj      centered, scaled into the unit sphere
            normalization.json       center and scale that map mesh.obj to normalized_mesh.obj
            sdf_samples.npy          (N, 4) float32: xyz, signed distance (negative inside)
            surface_samples.npy      (M, 3) float32 points on the normalized surface
            normals/00000.png ...    normal maps, one per view
            sketches/00000.png ...   synthetic sketches, same names as the normal maps
            preprocess.json          which step ran with which settings (for resuming)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def view_filename(view_index: int) -> str:
    return f"{view_index:05d}.png"


@dataclass(frozen=True)
class ShapeFiles:
    """Paths of one shape's files (see the module docstring)."""

    dir: Path

    @property
    def obj_id(self) -> str:
        return self.dir.name

    @property
    def mesh(self) -> Path:
        return self.dir / "mesh.obj"

    @property
    def import_record(self) -> Path:
        return self.dir / "import.json"

    @property
    def normalized_mesh(self) -> Path:
        return self.dir / "normalized_mesh.obj"

    @property
    def normalization(self) -> Path:
        return self.dir / "normalization.json"

    @property
    def sdf_samples(self) -> Path:
        return self.dir / "sdf_samples.npy"

    @property
    def surface_samples(self) -> Path:
        return self.dir / "surface_samples.npy"

    @property
    def normals_dir(self) -> Path:
        return self.dir / "normals"

    @property
    def sketches_dir(self) -> Path:
        return self.dir / "sketches"

    @property
    def manifest(self) -> Path:
        return self.dir / "preprocess.json"

    def normal_map(self, view_index: int) -> Path:
        return self.normals_dir / view_filename(view_index)

    def sketch(self, view_index: int) -> Path:
        return self.sketches_dir / view_filename(view_index)


@dataclass(frozen=True)
class DatasetLayout:
    """Paths of one dataset ``<data_dir>/<name>``."""

    root: Path

    @classmethod
    def from_config(cls, data_cfg) -> "DatasetLayout":
        return cls(Path(str(data_cfg.data_dir)))

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def metainfo(self) -> Path:
        return self.root / "metainfo.csv"

    @property
    def failures(self) -> Path:
        return self.root / "failures.csv"

    @property
    def cameras(self) -> Path:
        return self.root / "cameras.json"

    @property
    def shapes_dir(self) -> Path:
        return self.root / "shapes"

    def shape(self, obj_id: str) -> ShapeFiles:
        return ShapeFiles(self.shapes_dir / obj_id)
