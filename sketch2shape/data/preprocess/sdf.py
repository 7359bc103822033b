"""Signed distance samples in the DeepSDF style, with a sign that survives raw ShapeNet meshes.

Sampling (Park et al. 2019): most points are surface points displaced by Gaussian noise at two
scales, the rest are uniform in the bounding cube [-1, 1]^3.

Distance: exact unsigned distance to the triangles (libigl AABB tree).

Sign, by ``sign_method``:

* ``winding``: generalized winding number > 1/2 (libigl's fast winding number). Exact for closed,
  consistently oriented meshes, including unions of overlapping closed parts.
* ``visibility``: for meshes that are not closed (open shells, single-sided sheets, flipped
  faces, inner faces), as DeepSDF does with renderings from many views. Depth maps are
  ray-cast from cameras spread over the sphere; a point is outside if some camera sees it in
  front of the surface. Thin sheets have no inside, so the shape is thickened by a shell:
  ``sdf = udf - shell`` outside, ``-(udf + shell)`` inside, continuous at the surface. Because
  every point within ``shell`` of the surface is inside the thickened shape whatever its side, the
  depth test may use a tolerance of ``shell`` without moving the zero level set.
* ``hybrid``: for meshes that are not closed. Visibility sees into a closed part through any hole
  in it (a missing cell of 1/64 of a box's top face leaves 6-22% of its inside signed positive),
  whereas the winding number of a surface with a small hole is still > 1/2 inside: for a planar
  hole exactly everywhere on the inner side of the hole's plane. So the mesh is split into its
  connected components (across edges shared by two triangles) and those that enclose a volume
  are found (:func:`enclosing_parts`): edge-manifold, orientable (their winding is made
  consistent and outward), no triangle listed twice, a non-zero volume, and holes of total area
  (the vector area of each boundary loop) at most ``NEARLY_CLOSED_MAX_HOLE`` of their surface.
  A point is inside if the winding number of those parts is > 1/2, or else if visibility says
  so; the shell and the distances are those of ``visibility``, so open sheets still become thin
  solids, and inner faces, being invisible, stay inside. A part with a larger opening (a box
  without its top, a bowl) is left to visibility: it is hollow. Reported as ``hybrid`` when some
  part enclosed a volume, else as ``visibility`` (the two agree then).
* ``auto``: ``winding`` for closed oriented meshes (unchanged, exact), else ``hybrid``.
"""

from __future__ import annotations

from dataclasses import dataclass

import igl
import numpy as np
import torch
import trimesh
from scipy import sparse
from scipy.sparse import csgraph

from sketch2shape.data.preprocess.mesh import is_closed_and_oriented
from sketch2shape.render.camera import Camera, sphere_cameras
from sketch2shape.render.mesh_raycast import MeshRaycaster

SIGN_METHODS = ("auto", "winding", "visibility", "hybrid")


@dataclass(frozen=True)
class SDFSettings:
    num_samples: int = 250_000
    near_surface_stds: tuple[float, ...] = (0.0707, 0.0224)  # sqrt of DeepSDF's variances 0.005, 0.0005
    uniform_fraction: float = 0.05
    sign_method: str = "auto"
    visibility_views: int = 40
    visibility_resolution: int = 256
    shell: float = 0.005

    def __post_init__(self) -> None:
        if self.sign_method not in SIGN_METHODS:
            raise ValueError(f"sign_method={self.sign_method!r}; accepted: {', '.join(SIGN_METHODS)}")
        if not 0.0 <= self.uniform_fraction <= 1.0:
            raise ValueError(f"uniform_fraction={self.uniform_fraction} must be in [0, 1]")
        if self.num_samples < 1 or not self.near_surface_stds and self.uniform_fraction < 1.0:
            raise ValueError("num_samples must be >= 1 and near_surface_stds non-empty unless uniform_fraction=1")


def sample_points(mesh: trimesh.Trimesh, settings: SDFSettings, rng: np.random.Generator) -> np.ndarray:
    """(num_samples, 3) query points: near-surface at each noise scale, then uniform."""
    n_uniform = int(round(settings.num_samples * settings.uniform_fraction))
    n_near = settings.num_samples - n_uniform
    chunks = []
    if n_near:
        counts = np.full(len(settings.near_surface_stds), n_near // len(settings.near_surface_stds))
        counts[: n_near - counts.sum()] += 1
        surface = sample_surface(mesh, n_near, rng)
        start = 0
        for std, count in zip(settings.near_surface_stds, counts):
            chunks.append(surface[start : start + count] + rng.normal(0.0, std, size=(count, 3)))
            start += count
    chunks.append(rng.uniform(-1.0, 1.0, size=(n_uniform, 3)))
    return np.concatenate(chunks).astype(np.float64)


def sample_surface(mesh: trimesh.Trimesh, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniformly distributed over the surface area, (count, 3) float64."""
    areas = np.asarray(mesh.area_faces, dtype=np.float64)
    faces = rng.choice(len(areas), size=count, p=areas / areas.sum())
    r1, r2 = rng.random(count), rng.random(count)
    flip = r1 + r2 > 1.0
    r1[flip], r2[flip] = 1.0 - r1[flip], 1.0 - r2[flip]
    tri = np.asarray(mesh.triangles)[faces]
    return tri[:, 0] + r1[:, None] * (tri[:, 1] - tri[:, 0]) + r2[:, None] * (tri[:, 2] - tri[:, 0])


def unsigned_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    squared, _, _ = igl.point_mesh_squared_distance(
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(mesh.vertices, dtype=np.float64),
        np.ascontiguousarray(mesh.faces, dtype=np.int64),
    )
    return np.sqrt(squared)


# Fast winding numbers approximate far triangles by a tree; large triangles are always "near"
# and evaluated exactly, which makes low-poly meshes (procedural chairs) slow. Splitting them
# changes neither the surface nor its winding number.
WINDING_MAX_EDGE = 0.02


def winding_number(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalized winding number of the triangles at ``points`` (libigl's fast approximation)."""
    vertices, faces = trimesh.remesh.subdivide_to_size(vertices, faces, max_edge=WINDING_MAX_EDGE)
    return igl.fast_winding_number(
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
        np.ascontiguousarray(points, dtype=np.float64),
    )


def inside_by_winding(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    return winding_number(mesh.vertices, mesh.faces, points) > 0.5


# Components whose holes (total vector area of their boundary loops) are at most this share of
# their surface count as enclosing a volume: a cube missing 1/4 of one face (holes 1/23 of its
# surface), a tube without caps at least 10 times as long as its radius (an open chair leg). A
# box without its top (1/5), a mug as wide as high (~1/6) or a half sphere (1/2) are open.
NEARLY_CLOSED_MAX_HOLE = 0.1


def _edge_table(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges (3 per face, face order), whether each runs from lower to higher index,
    the id of its undirected edge, and how many directed edges each undirected edge has."""
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    lo, hi = directed.min(axis=1), directed.max(axis=1)
    _, edge_id, edge_count = np.unique(lo * n_vertices + hi, return_inverse=True, return_counts=True)
    return directed, directed[:, 0] < directed[:, 1], edge_id.ravel(), edge_count


def _consistent_flips(n_faces: int, pairs: np.ndarray, parity: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Which faces to reverse so that adjacent faces run through their shared edge in opposite
    directions (``parity`` True: today they run the same way), along a spanning tree of each
    component. Non-orientable components remain inconsistent somewhere."""
    pairs, index = np.unique(np.sort(pairs, axis=1), axis=0, return_index=True)
    parity = parity[index]
    root = n_faces  # a virtual face joined to the first face of every component
    _, firsts = np.unique(labels, return_index=True)
    rows = np.concatenate([pairs[:, 0], np.full(len(firsts), root)])
    cols = np.concatenate([pairs[:, 1], firsts])
    odd = np.concatenate([parity, np.zeros(len(firsts), dtype=bool)])
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_faces + 1, n_faces + 1)).tocsr()
    _, parent = csgraph.breadth_first_order(graph, root, directed=False, return_predecessors=True)
    lookup = sparse.coo_matrix((odd.astype(np.int8) + 1, (rows, cols)), shape=graph.shape).tocsr()
    lookup = lookup + lookup.T
    parent[root] = root
    flip = np.asarray(lookup[parent[:n_faces], np.arange(n_faces)]).ravel() == 2
    flip = np.append(flip, False)
    # Pointer jumping: flip[f] = xor of the parities on the tree path from f up to the root.
    while (parent != root).any():
        flip ^= flip[parent]
        parent = parent[parent]
    return flip[:n_faces]


def enclosing_parts(mesh: trimesh.Trimesh, max_hole: float = NEARLY_CLOSED_MAX_HOLE) -> np.ndarray | None:
    """Faces (k, 3) of ``mesh``'s components that enclose a volume, oriented outward; None if none.

    A component (faces connected across edges shared by exactly two faces) encloses a volume if
    it is edge-manifold and orientable, lists no triangle twice, has a non-zero volume and its
    holes (the norm of the vector area of each boundary loop, summed) are at most ``max_hole``
    of its area. Closed components qualify with no hole; cracks along T-junctions are loops of
    almost no area. Faces are returned with the component's winding made consistent and its
    volume positive, indexing ``mesh.vertices``.
    """
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    n_faces, n_vertices = len(faces), len(vertices)
    if n_faces == 0:
        return None
    edge_face = np.repeat(np.arange(n_faces), 3)
    directed, forward, edge_id, edge_count = _edge_table(faces, n_vertices)
    shared = np.flatnonzero(edge_count[edge_id] == 2)
    shared = shared[np.argsort(edge_id[shared], kind="stable")]
    pairs = edge_face[shared].reshape(-1, 2)
    parity = np.equal(*forward[shared].reshape(-1, 2).T)
    adjacency = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_faces, n_faces))
    n_parts, labels = csgraph.connected_components(adjacency, directed=False)
    if parity.any():
        flip = _consistent_flips(n_faces, pairs, parity, labels)
        faces = np.where(flip[:, None], faces[:, ::-1], faces)
        directed, forward, edge_id, edge_count = _edge_table(faces, n_vertices)

    # Edges within each component: once (boundary), twice (must run opposite ways), more (bad).
    part_edge = labels[edge_face].astype(np.int64) * (int(edge_id.max()) + 1) + edge_id
    _, part_edge_id, part_edge_count = np.unique(part_edge, return_inverse=True, return_counts=True)
    part_edge_id = part_edge_id.ravel()
    forward_count = np.bincount(part_edge_id, weights=forward, minlength=len(part_edge_count))
    count = part_edge_count[part_edge_id]
    bad_edge = (count > 2) | ((count == 2) & (forward_count[part_edge_id] != 1))
    bad = np.bincount(labels[edge_face[bad_edge]], minlength=n_parts) > 0
    _, first, repeats = np.unique(np.sort(faces, axis=1), axis=0, return_index=True, return_counts=True)
    bad |= np.bincount(labels[first[repeats > 1]], minlength=n_parts) > 0

    triangles = vertices[faces]
    area = np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1) / 2
    part_area = np.bincount(labels, weights=area, minlength=n_parts)

    # Holes: the boundary edges of each component, grouped into loops (connected pieces).
    boundary = np.flatnonzero(count == 1)
    hole = np.zeros(n_parts)
    if len(boundary):
        ends = labels[edge_face[boundary]][:, None].astype(np.int64) * n_vertices + directed[boundary]
        nodes, node_index = np.unique(ends, return_inverse=True)
        node_index = node_index.reshape(-1, 2)
        graph = sparse.coo_matrix((np.ones(len(boundary)), (node_index[:, 0], node_index[:, 1])), shape=(len(nodes),) * 2)
        _, loop_of_node = csgraph.connected_components(graph, directed=False)
        loop = loop_of_node[node_index[:, 0]]
        a, b = vertices[directed[boundary, 0]], vertices[directed[boundary, 1]]
        cross = np.cross(a, b) / 2
        vector_area = np.stack([np.bincount(loop, weights=cross[:, k]) for k in range(3)], axis=1)
        loop_part = np.zeros(len(vector_area), dtype=np.int64)
        loop_part[loop] = labels[edge_face[boundary]]
        hole = np.bincount(loop_part, weights=np.linalg.norm(vector_area, axis=1), minlength=n_parts)

    # Signed volume about each component's area centroid.
    centroid = np.stack([np.bincount(labels, weights=area * triangles[:, :, k].mean(axis=1), minlength=n_parts) for k in range(3)], axis=1)
    centroid /= np.maximum(part_area, 1e-300)[:, None]
    local = triangles - centroid[labels][:, None, :]
    volume = np.bincount(labels, weights=np.einsum("ij,ij->i", local[:, 0], np.cross(local[:, 1], local[:, 2])) / 6, minlength=n_parts)

    enclosed = ~bad & (hole <= max_hole * part_area) & (np.abs(volume) > 1e-6 * part_area**1.5)
    if not enclosed.any():
        return None
    keep = enclosed[labels]
    inward = (volume < 0)[labels]
    return np.where(inward[:, None], faces[:, ::-1], faces)[keep]


def outside_by_visibility(
    mesh: trimesh.Trimesh, points: np.ndarray, cameras: list[Camera], tolerance: float
) -> np.ndarray:
    """True where some camera sees the point in front of the first surface along its ray.

    The surface depth at a point's projection is the minimum over the 2x2 pixel centers around
    it, a lower bound of the depth along the point's own ray, so that points truly inside are
    never carved away at silhouettes.
    """
    raycaster = MeshRaycaster(mesh)
    outside = np.zeros(len(points), dtype=bool)
    points_t = torch.from_numpy(points.astype(np.float32))
    for camera in cameras:
        n = camera.resolution
        depth = raycaster.depth(camera)
        pending = np.flatnonzero(~outside)
        if pending.size == 0:
            break
        uv, point_depth = (t.numpy() for t in camera.project(points_t[pending]))
        # The 2x2 block of pixel centers around uv: centers are at index + 0.5.
        j0 = np.floor(uv[:, 0] - 0.5).astype(np.int64)
        i0 = np.floor(uv[:, 1] - 0.5).astype(np.int64)
        padded = np.pad(depth, 1, constant_values=np.inf)  # outside the image: background
        i0, j0 = np.clip(i0 + 1, 0, n), np.clip(j0 + 1, 0, n)
        surface = np.minimum.reduce([padded[i0, j0], padded[i0 + 1, j0], padded[i0, j0 + 1], padded[i0 + 1, j0 + 1]])
        seen = (point_depth > 0) & (point_depth < surface + tolerance)
        outside[pending[seen]] = True
    return outside


@dataclass(frozen=True)
class SDFResult:
    samples: np.ndarray  # (N, 4) float32: xyz, sdf
    sign_method: str  # the method actually used ("winding", "hybrid" or "visibility")


def compute_sdf(mesh: trimesh.Trimesh, points: np.ndarray, settings: SDFSettings) -> SDFResult:
    """Signed distances of ``points`` (N, 3) to the normalized ``mesh`` (negative inside).

    See the module notes for the sign methods; ``auto`` picks ``winding`` for closed, outward
    oriented meshes and ``hybrid`` for the others.
    """
    method = settings.sign_method
    if method == "auto":
        method = "winding" if is_closed_and_oriented(mesh) else "hybrid"
    udf = unsigned_distance(mesh, points)
    if method == "winding":
        sdf = np.where(inside_by_winding(mesh, points), -udf, udf)
    else:
        inside = np.zeros(len(points), dtype=bool)
        if method == "hybrid":
            parts = enclosing_parts(mesh)
            if parts is None:
                method = "visibility"
            else:
                inside = winding_number(mesh.vertices, parts, points) > 0.5
        cameras = sphere_cameras(settings.visibility_views, resolution=settings.visibility_resolution)
        outside = np.zeros(len(points), dtype=bool)
        outside[~inside] = outside_by_visibility(mesh, points[~inside], cameras, tolerance=settings.shell)
        sdf = np.where(outside, udf - settings.shell, -(udf + settings.shell))
    samples = np.concatenate([points, sdf[:, None]], axis=1).astype(np.float32)
    return SDFResult(samples=samples, sign_method=method)
