"""Load any ShapeNet-style OBJ and normalize it into the unit sphere.

Reading (:func:`read_obj_text`) is tolerant of what real OBJ files contain besides geometry:

* Encoding: comments, group, object and material names may be in any 8-bit encoding (latin-1,
  cp1252, ...) and lines may end in CRLF. The geometry is ASCII, so the bytes are decoded as
  UTF-8 (a BOM is dropped) and, failing that, as latin-1, which maps every byte to a character;
  names may come out garbled, numbers never do. (trimesh would otherwise need the optional
  ``charset_normalizer`` and report the file unreadable without it.)
* Relative (negative) indices, ``f -3 -2 -1``, count back from the last ``v``/``vt``/``vn`` line
  *before* the face. trimesh resolves them against the end of the file instead, so in a file of
  several objects each written with relative indices all faces land on the last object's vertices
  (one object vanishes, another is stored twice, silently). They are rewritten to absolute
  indices before trimesh parses the text, in all ``f`` forms (``v``, ``v/vt``, ``v//vn``,
  ``v/vt/vn``); other lines (``l``, ``p``, ...) are left as they are.

Cleaning (:func:`read_mesh`) merges duplicate vertices and drops triangles with non-finite
coordinates and degenerate (zero-area) triangles, and says how much it dropped
(:class:`Cleaning`); :func:`load_source_mesh` refuses a mesh that cleaning reduced to a fraction
of itself, which is what the import (``copy_shapenet``) and the ``mesh`` preprocessing step use.
All failures are :class:`MeshError` with the file's path and the reason in the message.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh


class MeshError(ValueError):
    """A mesh file that cannot be used (unreadable, empty, degenerate)."""


# A face line with a negative index somewhere: "f 1 -2 3", "f -1/-1/-1 ...".
_RELATIVE_FACE = re.compile(r"^[ \t]*f[ \t][^\n]*-[0-9]", re.MULTILINE)
_VERTEX_KINDS = ("v", "vt", "vn")


def decode_obj_bytes(data: bytes) -> str:
    """OBJ bytes as text with LF line ends: UTF-8 (BOM dropped) if valid, else latin-1."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def absolute_obj_indices(text: str) -> str:
    """``text`` with every relative (negative) index of its ``f`` lines made absolute.

    Index ``-k`` of a face means the k-th last vertex (texture coordinate, normal) defined above
    that face line, i.e. ``count_so_far + 1 - k``. Text without relative face indices is returned
    unchanged. Vertex lines are written back as ``<kind> <values>`` (leading blanks and tabs
    after the keyword removed) so that trimesh counts exactly the lines counted here. Line
    continuations (a trailing backslash) are joined first, as trimesh does.

    Raises :class:`MeshError` for a relative index that points before the first vertex.
    """
    if not _RELATIVE_FACE.search(text):
        return text
    text = text.replace("\\\n", "")
    counts = dict.fromkeys(_VERTEX_KINDS, 0)
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        parts = line.split(None, 1)
        key = parts[0] if parts else ""
        if key in counts:
            counts[key] += 1
            out.append(f"{key} {parts[1] if len(parts) > 1 else ''}")
        elif key == "f" and len(parts) > 1:
            out.append("f " + " ".join(_absolute_corner(corner, counts, number) for corner in parts[1].split()))
        else:
            out.append(line)
    return "\n".join(out)


def _absolute_corner(corner: str, counts: dict[str, int], line_number: int) -> str:
    fields = corner.split("/")
    for i, (field, kind) in enumerate(zip(fields, _VERTEX_KINDS)):
        if field.startswith("-"):
            try:
                index = counts[kind] + 1 + int(field)
            except ValueError:
                continue  # not a number: leave it for trimesh to judge
            if index < 1:
                raise MeshError(f"line {line_number}: face index {field} refers before the first {kind!r} line")
            fields[i] = str(index)
    return "/".join(fields)


def read_obj_text(path: str | Path) -> str:
    """The text of an OBJ file, decoded whatever its comments' encoding, with absolute indices."""
    return absolute_obj_indices(decode_obj_bytes(Path(path).read_bytes()))


@dataclass(frozen=True)
class Normalization:
    """``normalized = (raw - center) * scale``."""

    center: tuple[float, float, float]
    scale: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (points - np.asarray(self.center)) * self.scale

    def invert(self, points: np.ndarray) -> np.ndarray:
        return points / self.scale + np.asarray(self.center)

    def to_dict(self) -> dict:
        return {"center": list(self.center), "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        return cls(center=tuple(float(c) for c in d["center"]), scale=float(d["scale"]))


@dataclass(frozen=True)
class Cleaning:
    """What :func:`read_mesh` kept of the triangles it read, by count and by area.

    ``area_read`` is the area of the triangles with finite coordinates as read (the others have
    none); merging vertices closer than trimesh's tolerance can shrink it, e.g. for a model in
    tiny units, so the kept area is measured after cleaning.
    """

    faces_read: int
    faces_nonfinite: int  # dropped: a corner with a NaN or infinite coordinate
    faces_kept: int
    area_read: float
    area_kept: float

    @property
    def faces_degenerate(self) -> int:
        """Dropped as degenerate (collinear or merged corners)."""
        return self.faces_read - self.faces_nonfinite - self.faces_kept

    def loss(self, min_kept_faces: float = 0.5, min_kept_area: float = 0.5) -> str | None:
        """None if at least these fractions of the triangles and of their area were kept, else why not."""
        face_share = self.faces_kept / self.faces_read if self.faces_read else 0.0
        area_share = self.area_kept / self.area_read if self.area_read > 0 else 0.0
        if face_share >= min_kept_faces and area_share >= min_kept_area:
            return None
        return (
            f"lost most of its surface in cleaning: kept {self.faces_kept} of {self.faces_read} triangles "
            f"({face_share:.0%}; {self.faces_nonfinite} had non-finite coordinates, {self.faces_degenerate} were "
            f"degenerate) and {area_share:.0%} of their area; at least {min_kept_faces:.0%} of the triangles and "
            f"{min_kept_area:.0%} of the area must remain"
        )


def read_mesh(path: str | Path) -> tuple[trimesh.Trimesh, Cleaning]:
    """Load a mesh file (OBJ: see the module notes; other formats as trimesh reads them) as one
    cleaned triangle mesh, and what the cleaning kept.

    Materials and textures are ignored; triangles with non-finite coordinates are dropped,
    duplicate vertices merged (so that watertightness can be judged) and degenerate triangles
    dropped. Raises :class:`MeshError` if the file is missing or unreadable or no valid triangle
    remains (e.g. all of them collinear).
    """
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"mesh file {path} does not exist")
    try:
        if path.suffix.lower() == ".obj":
            source = io.StringIO(read_obj_text(path))
            loaded = trimesh.load(source, file_type="obj", force="mesh", process=False, skip_materials=True)
        else:
            loaded = trimesh.load(path, force="mesh", process=False, skip_materials=True)
    except Exception as err:  # trimesh raises many types for malformed files
        raise MeshError(f"cannot read mesh {path}: {type(err).__name__}: {err}") from err
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshError(f"mesh {path} has no triangles")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"mesh {path} has face indices outside its {len(vertices)} vertices")
    finite = np.isfinite(vertices).all(axis=1)[faces].all(axis=1)
    area_read = float(trimesh.triangles.area(vertices[faces[finite]]).sum())
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces if finite.all() else faces[finite], process=False)
    if not finite.all():
        mesh.remove_unreferenced_vertices()  # before merging: NaN coordinates cannot be rounded
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0 or not np.isfinite(mesh.vertices).all():
        raise MeshError(
            f"mesh {path} has no valid triangles: all {len(faces)} are degenerate (e.g. collinear corners) "
            f"or have non-finite coordinates"
        )
    cleaning = Cleaning(
        faces_read=len(faces),
        faces_nonfinite=int((~finite).sum()),
        faces_kept=len(mesh.faces),
        area_read=area_read,
        area_kept=float(mesh.area),
    )
    return mesh, cleaning


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load an OBJ (multiple groups, materials, open shells, inner faces) as one triangle mesh.

    See :func:`read_mesh`; this accepts a mesh however much cleaning removed.
    """
    return read_mesh(path)[0]


def load_source_mesh(path: str | Path, min_kept_faces: float = 0.5, min_kept_area: float = 0.5) -> trimesh.Trimesh:
    """:func:`load_mesh` for a dataset's input mesh: also refuses one that cleaning gutted.

    Raises :class:`MeshError` naming the counts if fewer than ``min_kept_faces`` of the triangles
    or ``min_kept_area`` of their area survive cleaning (e.g. most corners are NaN); such a mesh
    would otherwise go through every step and give near-blank normal maps.
    """
    mesh, cleaning = read_mesh(path)
    reason = cleaning.loss(min_kept_faces, min_kept_area)
    if reason is not None:
        raise MeshError(f"mesh {path} {reason}")
    return mesh



def fit_unit_sphere(mesh: trimesh.Trimesh, padding: float = 0.03) -> Normalization:
    """Center the bounding box at the origin and scale the farthest vertex to radius 1 - padding."""
    if not 0.0 <= padding < 1.0:
        raise ValueError(f"padding={padding} must be in [0, 1)")
    vertices = np.asarray(mesh.vertices)
    center = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    radius = float(np.linalg.norm(vertices - center, axis=1).max())
    if radius <= 0.0:
        raise MeshError("mesh is a single point; it cannot be normalized")
    return Normalization(center=tuple(float(c) for c in center), scale=(1.0 - padding) / radius)


def normalize_mesh(mesh: trimesh.Trimesh, padding: float = 0.03) -> tuple[trimesh.Trimesh, Normalization]:
    norm = fit_unit_sphere(mesh, padding)
    out = mesh.copy()
    out.vertices = norm.apply(np.asarray(mesh.vertices))
    return out, norm


def is_closed_and_oriented(mesh: trimesh.Trimesh) -> bool:
    """True if the winding of ``mesh`` defines an inside: a closed, outward-oriented surface.

    The test is that every directed edge a->b is matched by as many b->a (the surface has no
    boundary as a 2-chain), no triangle is listed twice (double-sided sheets are balanced too,
    but enclose nothing) and the enclosed volume is positive. Unlike ``is_watertight`` this
    accepts unions of closed parts that touch at shared vertices or edges, which is what
    ShapeNet part unions and the procedural chairs are.
    """
    edges = np.asarray(mesh.edges, dtype=np.int64)  # directed, 3 per face
    if len(edges) == 0:
        return False
    n = int(edges.max()) + 1
    forward = edges[:, 0] * n + edges[:, 1]
    backward = edges[:, 1] * n + edges[:, 0]
    keys, counts = np.unique(forward, return_counts=True)
    back_keys, back_counts = np.unique(backward, return_counts=True)
    if len(keys) != len(back_keys) or not np.array_equal(keys, back_keys) or not np.array_equal(counts, back_counts):
        return False
    _, face_counts = np.unique(np.sort(np.asarray(mesh.faces), axis=1), axis=0, return_counts=True)
    if (face_counts > 1).any():
        return False
    return bool(mesh.volume > 0)
