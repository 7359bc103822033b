"""Warm-started marching: each render of an optimization starts its rays where the last one found the surface.

In a latent-code optimization the shape changes a little per step: with the shipped decoder and
Adam at lr 1e-2 the SDF changes by at most 0.005-0.02 anywhere in the unit sphere from one step to
the next (measured over a 30-step silhouette fit). A cold render (:func:`render_batch` without a
:class:`WarmStart`) still marches every ray from the bounding sphere, and most of its evaluations
creep up to the surface: the decoder's SDF falls at about 0.6 per unit length along a ray near a
hit (not 1), so each ``step_scale * sdf`` step only halves the rest of the way (about 14
evaluations per hit ray at 64^2, 9 of them within 0.05 of the surface). With a :class:`WarmStart`
passed to :func:`render_batch`, every march records, per ray, the stretch where it came within
``band`` of the surface (:class:`~sketch2shape.render.sphere_tracing.BandRecord`), and a render
after the first marches, per ray (tensors (V*H*W,), ray parameters in the units of the scene):

* a ray that hit and only *approached* its hit (|sdf| never rose within the band, and its way
  through the band was at most twice as long as a straight line at the hit's slope takes from the
  last sample outside the band, whose |sdf| the clearance bounds): from the last hit point, with
  Newton steps (:func:`~sketch2shape.render.sphere_tracing.newton_step_length`, the previous
  render's df/dt at the hit for the first one): 1-3 evaluations; as long as the stretch in front
  of the hit where the surface can have come since (|sdf| was below how far it can have moved,
  estimated at the hit's df/dt) is at most ``depth_tolerance`` long: a Newton restart finds the
  crossing next to the last hit, and a new crossing in front of it (a part grown there, or a
  grazing ray that now touches the surface earlier) would be missed; longer, the band stretch is
  marched again;
* a ray that hit after passing near the surface: from the start of its band stretch, Newton
  steps only after the last pass; unless what it passed (its smallest |sdf| there) is farther
  from the surface than the shape can have moved, then as above;
* a ray that missed but came within the band: its closest approach (where the last render's
  parabola fits put it) is evaluated again; when the surface may have reached the ray's band
  stretch (its smallest |sdf| there minus how far the shape can have moved is below
  ``hit_threshold``) the stretch is marched again with plain sphere-tracing steps, so a ray that
  now hits finds the hit there; otherwise the ray still misses and that closest approach stands
  (the renderer refines it: :func:`~sketch2shape.render.sphere_tracing.refine_closest_batched`);
* a ray that never came within the band, or was outside the coarse region: not at all (a miss
  with silhouette 0, as a cold render gives it).

How far the shape can have moved (the safety argument). Before marching, the SDF is evaluated at
every warm start point whose previous value is known (the last render's value at a hit, or at a
miss's closest approach); the largest change is this step's *drift* (SDF units). Drifts are
summed since the last cold render, and each ray keeps the sum at two moments: when it was last
marched from the bounding sphere (``marked``) and when its band stretch was last marched
(``band_marked``). What lies outside the band stretch (the *skipped stretches*) may now be
``safety * (summed drift - marked)`` nearer the surface; the band stretch
``safety * (summed drift - band_marked)``. When the first reaches the skipped stretches'
*clearance* (the smallest |sdf| of the samples there, at least ``band``; minus the hit threshold
for hits, minus 6 temperatures, the farthest a miss counts for the soft silhouette, for misses),
the ray is marched from the bounding sphere again ("fresh"), as are rays that max_steps stopped,
rays that stopped hitting, and misses whose closest approach is now inside the surface. The
second decides between Newton steps and the band stretch for hits (against what the ray passed)
and between reuse and the band stretch for misses (against their smallest |sdf|). So a stretch
that was not marched again cannot have come near the surface unless the SDF changed ``safety``
times more there than at the measured points. The render is cold, and the bookkeeping restarts,
on the first call, when the cameras, settings, dtype or device change, when one step's drift alone
exceeds the budget (the code jumped to another shape: ``last == "drift"``) and every
``max_warm + 1`` renders. A cold render through a :class:`WarmStart` is the plain
:func:`render_batch` (same samples, same images); warm renders match cold ones within a hit's
tolerance: a few silhouette pixels can flip, depths differ by up to the length of ray where
|sdf| < hit_threshold, and a near miss's closest approach is the minimum next to the last one,
where a cold render takes the smallest of its samples (``tests/render/test_warm_start.py`` states
the tolerance).

The idea is the temporal coherence of real-time renderers (the last frame's depth as the next
frame's start); the Newton steps are the secant method on ``f(x(t)) = 0`` along the ray (DVR,
Niemeyer et al. 2020, finds its surface points with it once a sign change is bracketed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sketch2shape.render.camera import CameraBatch
from sketch2shape.render.sphere_tracing import SDFFunction, TraceResult, TracingSettings, chunk_points, coarse_region_batch, evaluate, march, newton_step_length, ray_sphere


def _signed_closest(trace: TraceResult) -> torch.Tensor:
    """The signed SDF at each ray's closest approach (N,), nan where the march recorded none."""
    return trace.closest_value if trace.closest_value is not None else torch.full_like(trace.t, float("nan"))


@dataclass
class _Previous:
    """What the renders so far found, per ray (V*H*W,) of the camera batch; no gradients."""

    cameras: CameraBatch
    settings: TracingSettings
    dtype: torch.dtype
    device: torch.device
    hit: torch.Tensor  # bool
    t: torch.Tensor  # ray parameter of the hit (hits)
    slope: torch.Tensor  # df/dt at the hit (hits; nan until remember)
    band_start: torch.Tensor  # BandRecord.start
    band_end: torch.Tensor  # BandRecord.end (nan: never came within the band)
    approach: torch.Tensor  # BandRecord.approach (nan: the ray only approached its hit, never passed near the surface)
    passed: torch.Tensor  # BandRecord.passed: the smallest |sdf| where it passed near the surface (inf: never)
    clearance: torch.Tensor  # BandRecord.clearance: the smallest |sdf| on the skipped stretches (their last march)
    closest: torch.Tensor  # the smallest |sdf| of the ray's samples at its last march (the band stretch's, for misses)
    t_closest: torch.Tensor  # where |sdf| was smallest: a hit's hit, a miss's closest approach (refined by the renderer for near misses)
    closest_value: torch.Tensor  # the signed sdf there in the last render (nan: unknown)
    finished: torch.Tensor  # bool: converged, escaped, or skipped by design (False: max_steps stopped it, or it stopped hitting)
    marked: torch.Tensor  # summed drift when the ray was last marched from the bounding sphere (-inf: never)
    band_marked: torch.Tensor  # summed drift when its band stretch was last marched


class WarmStart:
    """Per-ray marching state carried from one :func:`render_batch` call to the next (module docstring).

    Make one per optimization (per camera batch) and pass it as ``render_batch(..., warm=state)``
    at every step. ``band``: the distance to the surface (SDF units) within which rays are
    re-marched; ``safety``: how many times more the SDF may change away from the measured points;
    ``max_warm``: a cold render at least every ``max_warm + 1`` renders; ``depth_tolerance``: how
    long (scene units) the stretch of ray in front of a hit may be where the surface can now have
    come (a new crossing there is what a Newton restart from the hit would miss) before the ray's
    band stretch is marched again. After each render, ``last`` says what it was (``"cold"``,
    ``"warm"``, or ``"drift"``: cold because the shape moved too much in one step), ``drift`` is
    the summed drift since the last cold render and ``remarched`` the number of rays marched from
    the bounding sphere in a warm render. Raises ``ValueError`` for a setting out of its range.
    """

    def __init__(self, band: float = 0.15, safety: float = 2.0, max_warm: int = 20, depth_tolerance: float = 0.1) -> None:
        if band <= 0 or safety < 1 or max_warm < 0 or depth_tolerance <= 0:
            raise ValueError(f"WarmStart(band={band}, safety={safety}, max_warm={max_warm}, depth_tolerance={depth_tolerance}): "
                             "need band > 0, safety >= 1, max_warm >= 0, depth_tolerance > 0")
        self.band, self.safety, self.max_warm, self.depth_tolerance = float(band), float(safety), int(max_warm), float(depth_tolerance)
        self.previous: _Previous | None = None
        self.warm_renders = 0
        self.drift = 0.0
        self.remarched = 0
        self.last = ""

    def reset(self) -> None:
        """Forget the renders so far: the next one is cold."""
        self.previous = None

    def march(self, sdf_fn: SDFFunction, cameras: CameraBatch, origins: torch.Tensor, dirs: torch.Tensor,
              settings: TracingSettings, device: torch.device) -> TraceResult:
        """The marching of :func:`render_batch` for rays (V*H*W, 3): warm when the last render allows."""
        p = self.previous
        if (p is not None and self.warm_renders < self.max_warm and p.cameras == cameras and p.settings == settings
                and p.dtype == origins.dtype and p.device == torch.device(device)):
            trace = self._warm(sdf_fn, origins, dirs, settings)
            if trace is not None:
                return trace
        else:
            self.last = "cold"
        return self._cold(sdf_fn, cameras, origins, dirs, settings, torch.device(device))

    def remember(self, hit_index: torch.Tensor, slope: torch.Tensor, miss_index: torch.Tensor, t_miss: torch.Tensor, f_miss: torch.Tensor) -> None:
        """What the render just made found: ``df/dt`` (M,) at the hits ``hit_index`` (M,), the next
        Newton start; the refined closest approaches ``t_miss`` (K,) of the near misses
        ``miss_index`` (K,) and the SDF there ``f_miss`` (K,), the next render's probes."""
        p = self.previous
        if p is None:
            return
        p.slope = p.slope.index_put((hit_index,), slope.detach().to(p.slope.dtype))
        p.t_closest = p.t_closest.index_put((miss_index,), t_miss.detach().to(p.dtype))
        p.closest_value = p.closest_value.index_put((miss_index,), f_miss.detach().to(p.dtype))

    def _cold(self, sdf_fn, cameras: CameraBatch, origins, dirs, settings: TracingSettings, device: torch.device) -> TraceResult:
        """The plain render_batch marching (coarse region, then every ray in it), with band records."""
        region, coarse_evaluations = None, 0
        if settings.coarse_factor > 1 and cameras.resolution % settings.coarse_factor == 0:
            region, coarse_evaluations = coarse_region_batch(sdf_fn, cameras, settings, device, origins.dtype)
        trace = march(sdf_fn, origins, dirs, settings, only=region, band=self.band)
        inside, _, exit_ = ray_sphere(origins, dirs, settings.bound)
        marked = torch.zeros_like(trace.t)
        band = trace.band
        clearance = band.clearance
        if region is not None:  # rays outside the coarse region passed at least its spacing from the surface
            coarse = cameras.with_resolution(cameras.resolution // settings.coarse_factor)
            spacing = (0.75 * (coarse.distance + settings.bound) / coarse.focal_px).to(origins)
            close = (spacing < self.band).repeat_interleave(cameras.resolution**2)
            marked = torch.where(~region & close, torch.full_like(marked, -float("inf")), marked)
            clearance = torch.where(region, clearance, torch.full_like(clearance, self.band))
        finished = trace.hit | (trace.t > exit_) | ~inside | (~region if region is not None else False)
        value = _signed_closest(trace)
        nan = torch.full_like(trace.t, float("nan"))
        self.previous = _Previous(cameras, settings, origins.dtype, device, trace.hit, trace.t, nan, band.start, band.end, band.approach,
                                  band.passed, clearance, trace.closest, trace.t_closest, value, finished, marked, torch.zeros_like(marked))
        self.warm_renders, self.drift, self.remarched = 0, 0.0, 0
        trace.evaluations += coarse_evaluations
        return trace

    def _warm(self, sdf_fn, origins, dirs, settings: TracingSettings) -> TraceResult | None:
        """A warm march, or None when the drift says the shape moved too much in one step."""
        p = self.previous
        inside, entry, exit_ = ray_sphere(origins, dirs, settings.bound)
        near, threshold = 6 * settings.temperature, settings.hit_threshold
        known = ~torch.isnan(p.slope)
        hits = p.hit & known
        misses = p.finished & ~p.hit & ~torch.isnan(p.band_end)  # misses that came within the band

        # The SDF at the last hits (where it was ~0) and at the misses' closest approaches: the drift.
        t0 = torch.where(hits, p.t, p.t_closest)
        index = (hits | misses).nonzero().squeeze(-1)
        with torch.no_grad():
            f0 = evaluate(sdf_fn, origins[index] + t0[index, None] * dirs[index], chunk_points(settings, origins.device)).to(origins.dtype)
        last = p.closest_value[index]  # at a hit, the value of its hit sample (below hit_threshold; 0 where unknown)
        change = (f0 - torch.where(hits[index] & torch.isnan(last), torch.zeros_like(f0), last)).abs()
        change = change[~torch.isnan(change)]
        drift = float(change.max()) if len(change) else 0.0
        if self.safety * drift > self.band - near:
            self.last = "drift"
            return None
        self.drift += drift
        moved = self.safety * (self.drift - p.marked)  # how much nearer the surface the skipped stretches may now be
        moved_band = self.safety * (self.drift - p.band_marked)  # ... and the band stretch

        # Per ray: from the bounding sphere (fresh), Newton from the last hit, the band stretch, the
        # miss's last closest approach, or nothing.
        f_start = torch.zeros_like(p.t).index_put((index,), f0)
        fresh = inside & (~p.finished | (p.hit & ~known) | (misses & (f_start < -threshold))
                          | (moved > p.clearance - torch.where(p.hit, threshold, near)))
        # Newton from the last hit when nothing the ray passed can have come to the surface, and its
        # approach through the band was short (a ray that ran along the surface for long is marched).
        straight = (p.t - p.band_start) * p.slope.abs() <= 2 * p.clearance  # a straight line at the hit's slope takes clearance / |slope|
        # ... and where the approach may now cross the surface ahead of the last hit (|sdf| there was
        # below moved_band + threshold; about that over |df/dt| long) is at most `depth_tolerance` long.
        short = (moved_band + threshold) / p.slope.abs().clamp_min(0.05) <= self.depth_tolerance
        newton = hits & ~fresh & (moved_band < p.passed - threshold) & straight & short
        reached = misses & ~fresh & (moved_band >= p.closest - threshold)  # the surface may have reached the band stretch
        reuse = misses & ~fresh & ~reached
        banded = ((hits & ~newton) | reached) & ~fresh
        converged = newton & (f_start.abs() < threshold)
        start = torch.where(converged, t0, t0 + newton_step_length(f_start, p.slope, settings.step_scale))
        start = torch.where(fresh, entry, torch.where(newton, start, p.band_start)).clamp_min(entry)
        stop = torch.where(banded & ~p.hit, p.band_end, exit_)
        approach = torch.where(torch.isnan(p.approach), p.band_start, p.approach)  # hits: Newton steps once past where they passed near
        newton_from = torch.where(newton, -float("inf"), torch.where(p.hit, approach, float("inf")))
        slope = torch.where(newton, p.slope, torch.full_like(p.slope, float("nan")))
        marched = (newton & ~converged) | banded | fresh
        trace = march(sdf_fn, origins, dirs, settings, only=marched, start=start, stop=stop, newton_from=newton_from, slope=slope, band=self.band)

        # The probes are samples of their rays: a hit there needs no marching, and they are the
        # closest approaches of the misses that were not marched.
        trace.hit = trace.hit | converged
        trace.t = torch.where(converged, t0, trace.t)
        size = torch.where(newton | reuse, f_start.abs(), torch.full_like(f_start, float("inf")))
        closer = size < trace.closest
        trace.t_closest = torch.where(closer, t0, trace.t_closest)
        if trace.closest_value is not None:
            trace.closest_value = torch.where(closer, f_start, trace.closest_value)
        trace.closest = torch.minimum(size, trace.closest)
        trace.evaluations += len(index)

        # What was not marched again keeps what the last march of it found.
        keep = newton | ~(marched | converged)
        band_marched = marched & ~newton
        record = trace.band
        finished = torch.where(marched, trace.hit | ((trace.t > stop) & ~p.hit), p.finished | converged)  # a ray that stopped hitting goes fresh next time
        hit = torch.where(marched | converged, trace.hit, p.hit)
        value = _signed_closest(trace)
        probed = marched | reuse | converged
        self.previous = _Previous(
            p.cameras, settings, p.dtype, p.device, hit, torch.where(hit, trace.t, p.t), torch.full_like(trace.t, float("nan")),
            torch.where(keep, p.band_start, record.start), torch.where(keep & ~newton, p.band_end, record.end),
            torch.where(keep, p.approach, record.approach), torch.where(keep, p.passed, record.passed),
            torch.where(fresh, record.clearance, torch.where(band_marched, torch.minimum(p.clearance, record.clearance), p.clearance)),
            torch.where(marched, trace.closest, p.closest), torch.where(probed, trace.t_closest, p.t_closest),
            torch.where(probed, value, p.closest_value), finished & inside,
            torch.where(fresh, self.drift, p.marked), torch.where(band_marched, self.drift, p.band_marked))
        self.warm_renders += 1
        self.remarched = int(fresh.sum())
        self.last = "warm"
        return trace
