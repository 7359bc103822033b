"""Differentiable sphere tracing of a signed distance function into normal maps.

Marching (no autograd): each ray starts where it enters the bounding sphere of radius
``bound`` and advances by the SDF value; only rays still marching are evaluated each step. A ray
converges when ``|sdf| < hit_threshold`` and escapes when it leaves the sphere; ``max_steps``
caps the loop.

Gradients (to everything the SDF depends on, e.g. a DeepSDF latent code z), three terms:

* **Hit points** by implicit differentiation of f(x(z), z) = 0 along the ray: the ray parameter
  is ``t - (f(x0, z) - f(x0, z).detach()) / (grad_x f . d).detach()``, first order exact
  (as in DVR and IDR).
* **Normals** from the analytic SDF gradient, ``grad_x f / |grad_x f|`` by autograd with
  ``create_graph=True``, so the normal itself is differentiable in z. Autograd gives the exact
  gradient of the network for about the cost of one extra backward pass; central differences
  would need six more evaluations and a step size to tune.
* **Soft silhouette** ``sigmoid(-s / temperature)``: for rays that miss, s is the smallest SDF
  value met along the ray (how close the ray came to the surface); for rays that hit, s is the
  SDF a little inside the surface (``inside_offset`` along the ray), close to 1 but still
  differentiable, so a silhouette loss can both grow and shrink the shape.

Conventions follow :mod:`sketch2shape.render.camera`; normals are in camera space and
:func:`sketch2shape.render.shading.normals_to_image` encodes them like the preprocessed PNGs.

Batched rendering and synchronization
-------------------------------------
:func:`render_batch` traces N views (a :class:`~sketch2shape.render.camera.CameraBatch`) in one
call: the rays of all views are marched, shaded and differentiated together and the images get a
leading view dimension; :func:`render` is a batch of one. Its marching loop (:func:`march`) keeps
a compacted working set of the rays still marching and updates it with masks (``torch.where``):
rays that converge or escape are frozen in place and only dropped from the working set every
``compact_every`` steps. Dropping them (``nonzero``) and the test for "all rays done" are the
only points where the host waits for the device, so on a GPU there is one synchronization per
``compact_every`` steps instead of one per step (frozen rays cost up to ``compact_every - 1``
wasted evaluations each). On the CPU there is no device to wait for and every evaluation costs,
so the default there compacts every step. The marched sample positions do not depend on
``compact_every``: results are the same, only the evaluation count changes. On the CPU, SDF
calls are split into chunks of ``chunk_size`` points (512 per thread), whose activations stay in cache (a
6 x 256 MLP measured 1.1-1.5x faster per point than on batches of thousands).

On a CPU the cost is the MLP evaluations, and the marching evaluates exactly the points of
:func:`render_reference`, so batching and fewer synchronizations gain little there
(``benchmarks/render_steps.py``). ``march_dtype="bfloat16"`` (opt-in, off by default) runs the
marching, which has no gradients, under ``torch.autocast``; the hits are then finished by up to
``polish_steps`` float32 steps, so they meet ``hit_threshold`` in full precision, and the
differentiable pass is float32. Images then match within tolerance, not exactly: a few pixels at
silhouettes and thin parts can flip. On the 2-core AVX512-BF16 CPU this project is developed on it
does not pay: a shipped-decoder call on 1024 points took 2.8 ms instead of 4.2, but one on 64
points 0.63 instead of 0.50 (the casts), most marching calls are small once the working set
shrinks, and the coarser values cost more steps: a cold 64^2 render took 146-178 ms instead of
91-112 (20209 evaluations instead of 18408, 706 hits instead of 720), a warm-started 20-step fit
2.3x longer. It is meant for GPUs, where it has not been measured yet.

In an optimization most of the marching can be skipped: a
:class:`~sketch2shape.render.warm_start.WarmStart` passed to :func:`render_batch` starts each
render's rays where the previous render found the surface (:mod:`sketch2shape.render.warm_start`;
about 40% fewer evaluations: 30403 -> 17939 per step at 64^2 with one view,
``benchmarks/render_steps.py``; images within a hit's tolerance of a cold render). Without one,
nothing changes.

The differentiable pass differs from :func:`render_reference` (the original one-view renderer,
kept as the reference) in one place: the slope ``grad_x f . d`` that scales the implicit hit-point
gradient is taken from the normal pass at the (same) hit point, so the separate gradient
evaluation at ``x0`` is gone; the gradients are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import torch

from sketch2shape.render.camera import Camera, CameraBatch, as_camera_batch
from sketch2shape.render.shading import normals_to_image

SDFFunction = Callable[[torch.Tensor], torch.Tensor]  # (N, 3) -> (N,)


@dataclass(frozen=True)
class TracingSettings:
    max_steps: int = 64
    hit_threshold: float = 1e-3
    step_scale: float = 0.95  # < 1 guards against a learned SDF overestimating the distance
    bound: float = 1.0  # radius of the bounding sphere the shape lives in
    temperature: float = 0.01  # of the soft silhouette
    inside_offset: float = 0.05  # how far behind a hit the silhouette looks for "inside"
    coarse_factor: int = 4  # trace every k-th pixel first, then only full-resolution rays near the shape (1: off)
    compact_every: int | None = None  # drop finished rays every k marching steps (None: 1 on the CPU, 8 on a GPU; module docstring)
    chunk_size: int | None = None  # points per SDF call (None: 512 per torch thread on the CPU, all at once on a GPU; 0: all at once)
    march_dtype: str | None = None  # e.g. "bfloat16": march under torch.autocast in that dtype, hits then polished in full precision (opt-in; module docstring)
    polish_steps: int = 8  # full-precision marching steps that finish the hits of a march_dtype march


@dataclass
class TraceResult:
    """Per ray (N,), all without gradients."""

    t: torch.Tensor  # ray parameter at the last step (the hit for hit rays)
    hit: torch.Tensor  # bool
    t_closest: torch.Tensor  # ray parameter where |sdf| was smallest
    closest: torch.Tensor  # that smallest |sdf| (inf for rays not traced)
    evaluations: int  # SDF evaluations spent marching
    band: "BandRecord | None" = None  # where the rays came near the surface (march(band=...) only)
    closest_value: torch.Tensor | None = None  # the signed sdf at t_closest (march only; None: not recorded)


class MarchState(Protocol):
    """What :func:`render_batch` needs of a state kept across the renders of an optimization
    (:class:`~sketch2shape.render.warm_start.WarmStart` is the one implementation)."""

    def march(self, sdf_fn: SDFFunction, cameras: CameraBatch, origins: torch.Tensor, dirs: torch.Tensor,
              settings: TracingSettings, device: torch.device) -> "TraceResult":
        """The marching of all rays ``(V*H*W, 3)`` of ``cameras``, like :func:`march` (no gradients)."""

    def remember(self, hit_index: torch.Tensor, slope: torch.Tensor, miss_index: torch.Tensor, t_miss: torch.Tensor, f_miss: torch.Tensor) -> None:
        """What the render just made found after marching: ``df/dt`` (M,) at the hits
        ``hit_index`` (M,), and for the near misses ``miss_index`` (K,) their refined closest
        approach ``t_miss`` (K,) and the SDF there ``f_miss`` (K,)."""


@dataclass
class Rendering:
    """A differentiable rendering from one camera: images are (H, W, ...); from a batch of N
    cameras (:func:`render_batch`) every image has a leading view dimension, (N, H, W, ...)."""

    normals: torch.Tensor  # (H, W, 3) camera-space unit normals, 0 on background
    mask: torch.Tensor  # (H, W) bool hit mask (not differentiable)
    depth: torch.Tensor  # (H, W) distance along the ray, differentiable; inf on background
    silhouette: torch.Tensor  # (H, W) soft mask in (0, 1), differentiable
    evaluations: int  # SDF evaluations, marching and differentiable pass (of the whole batch)

    @property
    def image(self) -> torch.Tensor:
        """(H, W, 3) normal map in [0, 1] with a white background, as the preprocessed PNGs."""
        return normals_to_image(self.normals, self.mask)

    def __len__(self) -> int:
        """Number of views of a batched rendering."""
        if self.mask.dim() != 3:
            raise TypeError("a single-view Rendering has no views")
        return self.mask.shape[0]

    def view(self, index: int) -> "Rendering":
        """View ``index`` of a batched rendering as a single-view one (``evaluations``: the batch's)."""
        if self.mask.dim() != 3:
            raise TypeError("view() needs a batched Rendering (from render_batch)")
        return Rendering(self.normals[index], self.mask[index], self.depth[index], self.silhouette[index], self.evaluations)


def ray_sphere(origins: torch.Tensor, dirs: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entry and exit ray parameters of unit-direction rays with a sphere at the origin."""
    b = (origins * dirs).sum(-1)
    disc = b * b - ((origins * origins).sum(-1) - radius * radius)
    inside = disc > 0
    root = disc.clamp_min(0).sqrt()
    return inside, (-b - root).clamp_min(0), -b + root


@torch.no_grad()
def sphere_trace(
    sdf_fn: SDFFunction, origins: torch.Tensor, dirs: torch.Tensor, settings: TracingSettings = TracingSettings(), only: torch.Tensor | None = None
) -> TraceResult:
    """March rays (N, 3) through ``sdf_fn`` (see module docstring); ``only`` (N,) bool restricts
    the marching to some rays, the others count as misses that never came close.

    The reference loop: it compacts the active rays on the host every step (:func:`march` is the
    same marching with fewer synchronizations)."""
    n = len(origins)
    active, t, t_far = ray_sphere(origins, dirs, settings.bound)
    if only is not None:
        active &= only
    hit = torch.zeros(n, dtype=torch.bool, device=origins.device)
    best = torch.full((n,), float("inf"), device=origins.device, dtype=origins.dtype)
    t_closest = t.clone()
    evaluations = 0
    for _ in range(settings.max_steps):
        index = active.nonzero().squeeze(-1)
        if index.numel() == 0:
            break
        ti = t[index]
        sdf = sdf_fn(origins[index] + ti[:, None] * dirs[index]).to(origins.dtype)
        evaluations += index.numel()
        closer = sdf.abs() < best[index]
        best[index[closer]] = sdf[closer].abs()
        t_closest[index[closer]] = ti[closer]
        converged = sdf.abs() < settings.hit_threshold
        hit[index[converged]] = True
        ti = ti + settings.step_scale * sdf
        t[index] = torch.where(converged, t[index], ti)
        escaped = ti > t_far[index]
        active[index[converged | escaped]] = False
    return TraceResult(t=t, hit=hit, t_closest=t_closest, closest=best, evaluations=evaluations)


def coarse_region(sdf_fn: SDFFunction, camera: Camera, settings: TracingSettings, device, dtype) -> tuple[torch.Tensor, int]:
    """Pixels (H*W,) bool worth tracing at full resolution, from a trace of every k-th pixel.

    A coarse ray that passes within ``band`` of the surface (``band`` = the spacing of coarse
    rays at the far side of the bounding sphere) may have a thin part between itself and its
    neighbors: the full-resolution pixels around it (one coarse pixel dilated) are traced.
    """
    k = settings.coarse_factor
    coarse = camera.with_resolution(camera.resolution // k)
    origins, dirs = coarse.rays(dtype, device)
    trace = sphere_trace(sdf_fn, origins, dirs, settings)
    spacing = 0.75 * (camera.distance + settings.bound) / coarse.focal_px  # farthest a point can be from every coarse ray
    near = (trace.hit | (trace.closest < spacing)).reshape(1, 1, coarse.resolution, coarse.resolution).float()
    near = torch.nn.functional.max_pool2d(near, 3, stride=1, padding=1)
    region = torch.nn.functional.interpolate(near, scale_factor=k, mode="nearest")[0, 0] > 0
    return region.reshape(-1), trace.evaluations


@torch.no_grad()
def refine_closest(sdf_fn: SDFFunction, origins: torch.Tensor, dirs: torch.Tensor, t: torch.Tensor, steps: tuple[float, ...] = (0.04, 0.01)) -> torch.Tensor:
    """Move each ray parameter to the minimum of the SDF along its ray by parabolic fits."""
    for h in steps:
        if len(t) == 0:
            break
        f0 = sdf_fn(origins + t[:, None] * dirs)
        fm = sdf_fn(origins + (t - h)[:, None] * dirs)
        fp = sdf_fn(origins + (t + h)[:, None] * dirs)
        curvature = fp - 2 * f0 + fm
        shift = torch.where(curvature > 1e-12, 0.5 * h * (fm - fp) / curvature.clamp_min(1e-12), torch.zeros_like(t))
        t = t + shift.clamp(-h, h)
    return t


def scatter_hits(rays: int, hit_index: torch.Tensor, normals_cam: torch.Tensor, t_hit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-ray images from the hits: normals ``(rays, 3)`` (camera frame, 0 where a ray missed)
    and depth ``(rays,)`` (ray parameter, ``inf`` where it missed); ``hit_index`` ``(M,)`` with
    ``normals_cam`` ``(M, 3)`` and ``t_hit`` ``(M,)``. Differentiable in the hits' values."""
    normals = torch.zeros(rays, 3, device=normals_cam.device, dtype=normals_cam.dtype).index_put((hit_index,), normals_cam)
    depth = torch.full((rays,), float("inf"), device=t_hit.device, dtype=t_hit.dtype).index_put((hit_index,), t_hit)
    return normals, depth


def near_misses(in_bound: torch.Tensor, trace: "TraceResult", settings: TracingSettings) -> torch.Tensor:
    """Indices ``(K,)`` of the rays inside the bound that missed but came within
    ``6 * settings.temperature`` of the surface: the misses whose soft silhouette is not 0 to
    within sigmoid(-6)."""
    return (in_bound & ~trace.hit & (trace.closest < 6 * settings.temperature)).nonzero().squeeze(-1)


def render_reference(
    sdf_fn: SDFFunction,
    camera: Camera,
    settings: TracingSettings = TracingSettings(),
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Rendering:
    """The original one-view renderer (:func:`sphere_trace` synchronizes every step), kept as the
    reference that :func:`render_batch` is tested and benchmarked against. Same results as
    :func:`render`; ``compact_every`` and ``chunk_size`` are ignored."""
    origins, dirs = camera.rays(dtype, device)
    n = camera.resolution
    region, coarse_evaluations = None, 0
    if settings.coarse_factor > 1 and n % settings.coarse_factor == 0:
        region, coarse_evaluations = coarse_region(sdf_fn, camera, settings, device, dtype)
    trace = sphere_trace(sdf_fn, origins, dirs, settings, only=region)
    in_bound, _, _ = ray_sphere(origins, dirs, settings.bound)
    hit_index = trace.hit.nonzero().squeeze(-1)

    # Hit points (implicit differentiation), then normals at the differentiable hit point, so
    # that they follow both the surface's tilt and its motion.
    x0 = (origins[hit_index] + trace.t[hit_index, None] * dirs[hit_index]).requires_grad_(True)
    d = dirs[hit_index]
    with torch.enable_grad():
        sdf = sdf_fn(x0)
        grad0 = torch.autograd.grad(sdf.sum(), x0, retain_graph=True)[0]
        along = (grad0 * d).sum(-1).detach()
        along = torch.where(along.abs() < 1e-3, torch.full_like(along, -1e-3), along)  # grazing rays
        t_hit = trace.t[hit_index] - (sdf - sdf.detach()) / along
        x_hit = origins[hit_index] + t_hit[:, None] * d
        grad = torch.autograd.grad(sdf_fn(x_hit).sum(), x_hit, create_graph=True)[0]
    normals_world = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    normals_cam = camera.directions_to_camera(normals_world)

    normals, depth = scatter_hits(n * n, hit_index, normals_cam, t_hit)

    # Soft silhouette: just behind the hit for hits, at the closest approach for misses that
    # came within a few temperatures of the surface (refined, so that its gradient is the
    # envelope's); farther misses are 0 to within sigmoid(-6) and are left at 0.
    miss_index = near_misses(in_bound, trace, settings)
    t_miss = refine_closest(sdf_fn, origins[miss_index], dirs[miss_index], trace.t_closest[miss_index])
    probe_hit = x_hit + settings.inside_offset * d
    probe_miss = origins[miss_index] + t_miss[:, None] * dirs[miss_index]
    soft_hit = torch.sigmoid(-sdf_fn(probe_hit) / settings.temperature)
    soft_miss = torch.sigmoid(-sdf_fn(probe_miss) / settings.temperature)
    silhouette = torch.zeros(n * n, device=origins.device, dtype=soft_hit.dtype)
    silhouette = silhouette.index_put((hit_index,), soft_hit).index_put((miss_index,), soft_miss)
    evaluations = coarse_evaluations + trace.evaluations + 3 * len(hit_index) + 7 * len(miss_index)

    return Rendering(
        normals=normals.reshape(n, n, 3),
        mask=trace.hit.reshape(n, n),
        depth=depth.reshape(n, n),
        silhouette=silhouette.reshape(n, n),
        evaluations=evaluations,
    )


# ------------------------------------------------------------------ batched, few synchronizations


def compaction_interval(settings: TracingSettings, device: torch.device) -> int:
    """Marching steps between two compactions of the working set (module docstring)."""
    if settings.compact_every is not None:
        if settings.compact_every < 1:
            raise ValueError(f"compact_every={settings.compact_every} must be >= 1 (or None: automatic)")
        return int(settings.compact_every)
    return 1 if torch.device(device).type == "cpu" else 8


def chunk_points(settings: TracingSettings, device: torch.device) -> int:
    """Points per SDF call, 0 for all at once."""
    if settings.chunk_size is not None:
        return max(0, int(settings.chunk_size))
    return 512 * torch.get_num_threads() if torch.device(device).type == "cpu" else 0  # ~512 rows per thread


def chunks(points: torch.Tensor, chunk: int = 0) -> list[torch.Tensor]:
    """``points`` (M, ...) split into parts of ``chunk`` rows (0, or M <= chunk: one part)."""
    return [points] if chunk <= 0 or len(points) <= chunk else list(points.split(chunk))


def evaluate(sdf_fn: SDFFunction, points: torch.Tensor, chunk: int = 0) -> torch.Tensor:
    """``sdf_fn`` on points (M, 3) in chunks of ``chunk`` points (0: one call); (M,)."""
    parts = chunks(points, chunk)
    return sdf_fn(parts[0]) if len(parts) == 1 else torch.cat([sdf_fn(part) for part in parts])


NEWTON_SLACK = 0.01  # how much farther than the plain step a Newton step may go (SDF units)


def newton_step_length(f: torch.Tensor, df_dt: torch.Tensor, step_scale: float) -> torch.Tensor:
    """The Newton step ``-f / df_dt`` along a ray, ``df_dt <= -0.05`` (steeper slopes only), capped
    at twice the plain step ``step_scale * f`` and at the plain step plus ``NEWTON_SLACK``: it
    may overshoot the distance sphere tracing guarantees free by at most 0.01, so it cannot jump
    over parts thicker than that (far from the surface it is the plain step, near a hit Newton's)."""
    plain = step_scale * f.abs()
    cap = torch.minimum(2 * plain, plain + NEWTON_SLACK)
    return torch.maximum(torch.minimum(-f / df_dt.clamp_max(-0.05), cap), -cap)


@dataclass
class BandRecord:
    """Where each ray (N,) of a march came within ``band`` of the surface (``|sdf| < band``),
    recorded for :class:`~sketch2shape.render.warm_start.WarmStart`. No gradients."""

    start: torch.Tensor  # ray parameter of the last sample before the first one in the band (the march's start if that one was)
    end: torch.Tensor  # where the step after the last sample in the band landed (nan: never in the band)
    approach: torch.Tensor  # the last sample in the band after which |sdf| rose (the ray passed near the surface there); nan: never rose
    passed: torch.Tensor  # the smallest |sdf| at such passes (inf: none)
    clearance: torch.Tensor  # the smallest |sdf| of the samples outside the band stretch: before ``start`` or after ``end`` (inf: none)


@torch.no_grad()
def march(
    sdf_fn: SDFFunction,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    settings: TracingSettings = TracingSettings(),
    only: torch.Tensor | None = None,
    start: torch.Tensor | None = None,
    stop: torch.Tensor | None = None,
    newton_from: torch.Tensor | None = None,
    slope: torch.Tensor | None = None,
    band: float | None = None,
) -> TraceResult:
    """:func:`sphere_trace` with a masked working set compacted every ``compact_every`` steps.

    Same arguments and results as :func:`sphere_trace` (the same sample positions); between
    compactions no result leaves the device. ``evaluations`` counts every evaluated point, frozen
    ones included. With ``settings.march_dtype`` the SDF runs under autocast and the hits are then
    polished by up to ``polish_steps`` full-precision steps (hits that do not converge become misses).

    Options of the warm start (:mod:`sketch2shape.render.warm_start`), all per ray (N,); without
    them the marching is plain sphere tracing:

    * ``start``: ray parameters to start from instead of the bounding sphere's entry;
    * ``stop``: ray parameters past which a ray counts as escaped (default: the sphere's exit);
    * ``newton_from``: from this ray parameter on (inf: never) a ray takes Newton steps
      ``-f / (df/dt)`` instead of ``step_scale * f``, with df/dt the secant through its last two
      samples (for the first sample: ``slope``, the expected df/dt there, nan: none), where that
      is steeper than -0.05 (:func:`newton_step_length`). Near a hit this converges in two or
      three evaluations where sphere tracing creeps (df/dt is about -0.6 at the shipped decoder's
      hits, so each plain step only halves the rest of the way). The secant method on
      ``f(x(t)) = 0``, as DVR's root finding (Niemeyer et al. 2020) once a sign change is found;
    * ``band``: also return a :class:`BandRecord` (``TraceResult.band``).
    """
    device, dtype = origins.device, origins.dtype
    if settings.march_dtype:
        with torch.autocast(device.type, dtype=getattr(torch, settings.march_dtype)):
            rough = march(sdf_fn, origins, dirs, replace(settings, march_dtype=None), only, start, stop, newton_from, slope, band)
        rough.closest_value = None  # low-precision values: a parabola fit evaluates its own in full precision
        if settings.polish_steps < 1:
            return rough
        polish = march(sdf_fn, origins, dirs, replace(settings, march_dtype=None, max_steps=settings.polish_steps), only=rough.hit, start=rough.t, stop=stop)
        return TraceResult(
            t=torch.where(rough.hit, polish.t, rough.t),
            hit=polish.hit,
            t_closest=torch.where(rough.hit, polish.t_closest, rough.t_closest),
            closest=torch.where(rough.hit, polish.closest, rough.closest),
            evaluations=rough.evaluations + polish.evaluations,
            band=rough.band,  # where the rays came near the surface, as the low-precision march saw it (warm start)
        )
    every = compaction_interval(settings, device)
    chunk = chunk_points(settings, device)
    n = len(origins)
    active, t, t_far = ray_sphere(origins, dirs, settings.bound)
    if start is not None:
        t = start.to(dtype).clone()
    if stop is not None:
        t_far = stop.to(dtype)
    if only is not None:
        active &= only
    # Per-ray state (N,) each, kept as the rows of one float tensor (K, N) and one bool tensor (B, N),
    # so that a compaction writes back and gathers two tensors, not one per quantity (on the CPU the
    # working set is compacted at every step, and these small operations cost as much as the SDF
    # calls of the last steps, when a few rays creep along the surface).
    floats = {"t": t, "best": torch.full((n,), float("inf"), device=device, dtype=dtype), "t_closest": t, "closest_value": torch.full_like(t, float("inf"))}
    flags = {"hit": torch.zeros(n, dtype=torch.bool, device=device)}
    newton = newton_from is not None
    if newton:
        nan = torch.full((n,), float("nan"), device=device, dtype=dtype)
        floats.update(newton_from=newton_from.to(dtype), slope=nan if slope is None else slope.to(dtype), t_prev=nan, f_prev=nan)
    if band is not None:
        inf = torch.full_like(t, float("inf"))
        floats.update(band_start=t, band_end=torch.full_like(t, float("nan")), approach=torch.full_like(t, float("nan")), passed=inf,
                      last_size=inf, before_min=inf, after_min=inf)
        flags.update(in_band=torch.zeros(n, dtype=torch.bool, device=device))
    float_names, flag_names = list(floats), list(flags)
    all_floats, all_flags = torch.stack(list(floats.values())), torch.stack(list(flags.values()))

    def unpack(float_rows: torch.Tensor, flag_rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(float_names, float_rows.unbind(0))) | dict(zip(flag_names, flag_rows.unbind(0)))

    def write_back() -> tuple[torch.Tensor, torch.Tensor]:
        float_rows, flag_rows = torch.stack([w[k] for k in float_names]), torch.stack([w[k] for k in flag_names])
        all_floats[:, index], all_flags[:, index] = float_rows, flag_rows
        return float_rows, flag_rows

    index = active.nonzero().squeeze(-1)  # the working set: rays, then their state
    rays = torch.cat([origins, dirs, t_far[:, None]], dim=1)[index]  # (M, 7): origin, direction, where the ray escapes
    o, d, tf = rays[:, :3], rays[:, 3:6], rays[:, 6]
    w = unpack(all_floats[:, index], all_flags[:, index])
    live = torch.ones(len(index), dtype=torch.bool, device=device)
    masked = every > 1  # compacting at every step, every ray of the working set is live at the start of a step

    def alive(mask: torch.Tensor) -> torch.Tensor:
        return mask & live if masked else mask

    evaluations = 0
    for step in range(settings.max_steps):
        if step and step % every == 0:
            float_rows, flag_rows = write_back()
            keep = live.nonzero().squeeze(-1)  # the only synchronization: once per `every` steps
            index, rays, live = index[keep], rays[keep], live[keep]
            o, d, tf = rays[:, :3], rays[:, 3:6], rays[:, 6]
            w = unpack(float_rows[:, keep], flag_rows[:, keep])
        if len(index) == 0:
            break
        tw = w["t"]
        sdf = evaluate(sdf_fn, o + tw[:, None] * d, chunk).to(dtype)
        evaluations += len(index)
        size = sdf.abs()
        closer = alive(size < w["best"])
        w["best"] = torch.where(closer, size, w["best"])
        w["t_closest"] = torch.where(closer, tw, w["t_closest"])
        w["closest_value"] = torch.where(closer, sdf, w["closest_value"])
        converged = alive(size < settings.hit_threshold)
        w["hit"] = w["hit"] | converged
        plain = settings.step_scale * sdf
        if newton:
            secant = (sdf - w["f_prev"]) / (tw - w["t_prev"])
            df_dt = torch.where(torch.isnan(w["t_prev"]), w["slope"], secant)
            steep = df_dt < -0.05
            newton_step = newton_step_length(sdf, df_dt, settings.step_scale)  # used where steep only
            use = steep & (tw >= w["newton_from"])
            w["t_prev"], w["f_prev"] = (torch.where(live, tw, w["t_prev"]), torch.where(live, sdf, w["f_prev"])) if masked else (tw, sdf)
            moved = tw + torch.where(use, newton_step, plain)
        else:
            moved = tw + plain
        if band is not None:
            near = alive(size < band)
            before = alive(~near & ~w["in_band"])
            w["band_start"] = torch.where(before, tw, w["band_start"])
            w["before_min"] = torch.where(before, torch.minimum(w["before_min"], size), w["before_min"])
            w["after_min"] = torch.where(near, float("inf"), torch.minimum(w["after_min"], size))  # since the last sample in the band
            w["band_end"] = torch.where(near, moved, w["band_end"])
            rose = alive((w["last_size"] < band) & (size > w["last_size"]))
            w["approach"] = torch.where(rose, tw, w["approach"])
            w["passed"] = torch.where(rose, torch.minimum(w["passed"], w["last_size"]), w["passed"])
            w["last_size"] = torch.where(live, size, w["last_size"]) if masked else size
            w["in_band"] = w["in_band"] | near
        w["t"] = torch.where(alive(~converged), moved, tw)
        live = alive(~converged & ~(moved > tf))
    write_back()
    state = unpack(all_floats, all_flags)
    record = None
    if band is not None:
        record = BandRecord(state["band_start"], torch.minimum(state["band_end"], t_far), state["approach"], state["passed"],
                            torch.minimum(state["before_min"], state["after_min"]))
    return TraceResult(t=state["t"], hit=state["hit"], t_closest=state["t_closest"], closest=state["best"], evaluations=evaluations, band=record,
                       closest_value=state["closest_value"])


@torch.no_grad()
def refine_closest_batched(sdf_fn: SDFFunction, origins: torch.Tensor, dirs: torch.Tensor, t: torch.Tensor, steps: tuple[float, ...] = (0.04, 0.01), chunk: int = 0,
                           value: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`refine_closest` with the samples of each fit in one (chunked) SDF call; ``value``
    (M,): the SDF at ``t`` where the caller has it (the march's sample there), which the first fit
    then does not evaluate again."""
    m = len(t)
    for h in steps:
        if m == 0:
            break
        if value is None:
            shifts = torch.stack([t, t - h, t + h])  # (3, M)
            f0, fm, fp = evaluate(sdf_fn, (origins[None] + shifts[..., None] * dirs[None]).reshape(-1, 3), chunk).to(t.dtype).reshape(3, m)
        else:
            shifts = torch.stack([t - h, t + h])  # (2, M)
            fm, fp = evaluate(sdf_fn, (origins[None] + shifts[..., None] * dirs[None]).reshape(-1, 3), chunk).to(t.dtype).reshape(2, m)
            f0, value = value.to(t.dtype), None
        curvature = fp - 2 * f0 + fm
        shift = torch.where(curvature > 1e-12, 0.5 * h * (fm - fp) / curvature.clamp_min(1e-12), torch.zeros_like(t))
        t = t + shift.clamp(-h, h)
    return t


class _Slope:
    """Holds ``grad_x f . d`` at the hit points once the normal pass has computed it."""

    value: torch.Tensor | None = None


class _ImplicitStep(torch.autograd.Function):
    """Zero in value; its gradient is ``-1 / slope`` times the incoming one: the first-order
    change of the hit's ray parameter when f(x0) changes (module docstring). ``slope`` is read at
    backward time, so it may be filled in after the forward pass."""

    @staticmethod
    def forward(ctx, sdf: torch.Tensor, slope: _Slope) -> torch.Tensor:
        ctx.slope = slope
        return torch.zeros_like(sdf)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if ctx.slope.value is None:
            raise RuntimeError("the implicit hit-point gradient was needed before the normal pass set its slope")
        return (-grad / ctx.slope.value).to(grad.dtype), None


def _value_and_gradient(sdf_fn: SDFFunction, points: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``sdf_fn`` at points (M, 3) with its graph (to the latent code) and ``grad_x f`` (M, 3),
    detached. With an SDF that offers ``linearized(points)`` (a decoder's
    :class:`~sketch2shape.models.deepsdf.LatentField`), one backward pass gives both; otherwise a
    backward for the gradient, and the loss's backward later traverses the graph again."""
    linearized = getattr(sdf_fn, "linearized", None)
    if linearized is not None:
        results = [linearized(part) for part in chunks(points, chunk)]
        if all(r is not None for r in results):
            return torch.cat([r[0] for r in results]), torch.cat([r[1] for r in results]).detach()
    x0 = points.detach().requires_grad_(True)
    sdf = evaluate(sdf_fn, x0, chunk)
    return sdf, torch.autograd.grad(sdf.sum(), x0, retain_graph=sdf.requires_grad)[0].detach()


def _safe_slope(along: torch.Tensor) -> torch.Tensor:
    return torch.where(along.abs() < 1e-3, torch.full_like(along, -1e-3), along)  # grazing rays


def render_batch(
    sdf_fn: SDFFunction,
    cameras: CameraBatch | Camera | Sequence[Camera],
    settings: TracingSettings = TracingSettings(),
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    differentiable_normals: bool = True,
    warm: MarchState | None = None,
) -> Rendering:
    """Render the zero level set of ``sdf_fn`` from N cameras in one call (module docstring).

    Returns a :class:`Rendering` whose images are (N, H, W, ...). Gradients as :func:`render`:
    implicit hit points (depth), analytic normals and the soft silhouette. With
    ``differentiable_normals=False`` the normals are returned without gradients, which spares
    their double-backward graph (for losses on the silhouette or depth only). ``warm``: a
    :class:`~sketch2shape.render.warm_start.WarmStart` kept across the steps of an optimization,
    which starts the marching where the previous call found the surface (about 40% fewer evaluations;
    images within a hit's tolerance of a cold render; see that module).
    """
    cameras = as_camera_batch(cameras)
    views, n = len(cameras), cameras.resolution
    pixels = n * n
    chunk = chunk_points(settings, torch.device(device))
    origins, dirs = (x.reshape(-1, 3) for x in cameras.rays(dtype, device))
    region, coarse_evaluations = None, 0
    if warm is not None:
        trace = warm.march(sdf_fn, cameras, origins, dirs, settings, torch.device(device))
    else:
        if settings.coarse_factor > 1 and n % settings.coarse_factor == 0:
            region, coarse_evaluations = coarse_region_batch(sdf_fn, cameras, settings, device, dtype)
        trace = march(sdf_fn, origins, dirs, settings, only=region)
    in_bound, _, _ = ray_sphere(origins, dirs, settings.bound)
    hit_index = trace.hit.nonzero().squeeze(-1)
    o_hit, d = origins[hit_index], dirs[hit_index]
    t0 = trace.t[hit_index]

    # Hit points (implicit differentiation) and normals at the differentiable hit point.
    with torch.enable_grad():
        if differentiable_normals:
            sdf = evaluate(sdf_fn, o_hit + t0[:, None] * d, chunk)
            slope = _Slope()
            t_hit = t0 + _ImplicitStep.apply(sdf, slope)
            x_hit = o_hit + t_hit[:, None] * d
            if not x_hit.requires_grad:  # nothing upstream needs gradients
                x_hit = x_hit.detach().requires_grad_(True)
            grad = torch.autograd.grad(evaluate(sdf_fn, x_hit, chunk).sum(), x_hit, create_graph=True)[0]
            slope.value = _safe_slope((grad.detach() * d).sum(-1))
        else:
            x0 = o_hit + t0[:, None] * d
            sdf, grad = _value_and_gradient(sdf_fn, x0, chunk)
            t_hit = t0 - (sdf - sdf.detach()) / _safe_slope((grad * d).sum(-1))
            x_hit = o_hit + t_hit[:, None] * d
    normals_world = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    rotation = cameras.rotation(normals_world.dtype, normals_world.device)[hit_index // pixels]  # (hits, 3, 3)
    normals_cam = (rotation * normals_world[:, None, :]).sum(-1)

    normals, depth = scatter_hits(views * pixels, hit_index, normals_cam, t_hit)

    # Soft silhouette, as render_reference: behind the hit for hits, at the refined closest
    # approach for near misses; both probes in one SDF call.
    miss_index = near_misses(in_bound, trace, settings)
    known = None if trace.closest_value is None else trace.closest_value[miss_index]
    t_miss = refine_closest_batched(sdf_fn, origins[miss_index], dirs[miss_index], trace.t_closest[miss_index], chunk=chunk, value=known)
    probes = torch.cat([x_hit + settings.inside_offset * d, origins[miss_index] + t_miss[:, None] * dirs[miss_index]])
    values = evaluate(sdf_fn, probes, chunk)
    soft = torch.sigmoid(-values / settings.temperature)
    soft_hit, soft_miss = soft[: len(hit_index)], soft[len(hit_index) :]
    if warm is not None:
        warm.remember(hit_index, (grad.detach() * d).sum(-1), miss_index, t_miss, values[len(hit_index) :].detach())
    silhouette = torch.zeros(views * pixels, device=origins.device, dtype=soft.dtype)
    silhouette = silhouette.index_put((hit_index,), soft_hit).index_put((miss_index,), soft_miss)
    passes = 3 if differentiable_normals else 2
    evaluations = coarse_evaluations + trace.evaluations + passes * len(hit_index) + (7 if known is None else 6) * len(miss_index)

    return Rendering(
        normals=normals.reshape(views, n, n, 3),
        mask=trace.hit.reshape(views, n, n),
        depth=depth.reshape(views, n, n),
        silhouette=silhouette.reshape(views, n, n),
        evaluations=evaluations,
    )


def coarse_region_batch(sdf_fn: SDFFunction, cameras: CameraBatch, settings: TracingSettings, device, dtype) -> tuple[torch.Tensor, int]:
    """:func:`coarse_region` for every view of a batch at once: (N * H * W,) bool, evaluations."""
    k = settings.coarse_factor
    coarse = cameras.with_resolution(cameras.resolution // k)
    views, m = len(coarse), coarse.resolution
    origins, dirs = coarse.rays(dtype, device)
    trace = march(sdf_fn, origins.reshape(-1, 3), dirs.reshape(-1, 3), settings)
    spacing = (0.75 * (coarse.distance + settings.bound) / coarse.focal_px).to(dtype=dtype, device=origins.device)
    near = trace.hit.reshape(views, m * m) | (trace.closest.reshape(views, m * m) < spacing[:, None])
    near = torch.nn.functional.max_pool2d(near.reshape(views, 1, m, m).float(), 3, stride=1, padding=1)
    region = torch.nn.functional.interpolate(near, scale_factor=k, mode="nearest")[:, 0] > 0
    return region.reshape(-1), trace.evaluations


def render(
    sdf_fn: SDFFunction,
    camera: Camera,
    settings: TracingSettings = TracingSettings(),
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Rendering:
    """Render the zero level set of ``sdf_fn`` from ``camera`` with gradients (module docstring):
    :func:`render_batch` with one view; images (H, W, ...)."""
    return render_batch(sdf_fn, [camera], settings, device, dtype).view(0)
