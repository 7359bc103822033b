// The page: a drawing canvas (mouse, pen, touch), the optional view hint, submitting a job,
// following its progress (server-sent events, polling if they fail) and showing each shape as it
// arrives: the encoder's first shape at once, then the refined (kept) one. The refinement can be
// stopped (the shape so far stays).
// window.appState is what the browser test reads: {jobId, status, faces, shown: [{shape, stage, faces}], describe, poorMatch}.
import { MeshViewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const state = {
  tool: "pen", size: 4, strokes: [], drawing: null, views: [], jobId: null, doneJobId: null, source: null, poll: null, limits: {},
  mode: "encoder", job: null, drawn: null, draws: Promise.resolve(),
};
window.appState = { jobId: null, status: "idle", faces: 0, shown: [], describe: "", poorMatch: false };

// ---- drawing ---------------------------------------------------------------------------------
const sketch = $("sketch"), pen = sketch.getContext("2d");

function clearCanvas() {
  pen.fillStyle = "#fff";
  pen.fillRect(0, 0, sketch.width, sketch.height);
}

function paintStroke(stroke) {
  if (stroke.image) {  // an uploaded picture, fitted into the canvas on white
    const { image } = stroke, scale = Math.min(sketch.width / image.width, sketch.height / image.height);
    const w = image.width * scale, h = image.height * scale;
    pen.drawImage(image, (sketch.width - w) / 2, (sketch.height - h) / 2, w, h);
    return;
  }
  pen.strokeStyle = stroke.erase ? "#fff" : "#000";
  pen.fillStyle = pen.strokeStyle;
  pen.lineCap = pen.lineJoin = "round";
  const pts = stroke.points;
  if (pts.length === 1) {
    pen.beginPath();
    pen.arc(pts[0][0], pts[0][1], stroke.size * pts[0][2] / 2, 0, 2 * Math.PI);
    pen.fill();
  }
  for (let i = 1; i < pts.length; i++) {
    pen.lineWidth = stroke.size * pts[i][2];
    pen.beginPath();
    pen.moveTo(pts[i - 1][0], pts[i - 1][1]);
    pen.lineTo(pts[i][0], pts[i][1]);
    pen.stroke();
  }
}

function redraw() {
  clearCanvas();
  state.strokes.forEach(paintStroke);
}

function canvasPoint(e) {
  const rect = sketch.getBoundingClientRect();
  // A pen's pressure varies the width a little; mouse and touch report 0.5 (or 0) and draw evenly.
  const pressure = e.pointerType === "pen" && e.pressure > 0 ? 0.5 + e.pressure : 1;
  return [(e.clientX - rect.left) * sketch.width / rect.width, (e.clientY - rect.top) * sketch.height / rect.height, pressure];
}

sketch.addEventListener("pointerdown", (e) => {
  if (e.button !== undefined && e.button > 0) return;
  sketch.setPointerCapture(e.pointerId);
  state.drawing = { erase: state.tool === "eraser", size: state.tool === "eraser" ? state.size * 4 : state.size, points: [canvasPoint(e)], pointerId: e.pointerId };
  state.strokes.push(state.drawing);
  paintStroke(state.drawing);
  e.preventDefault();
});
sketch.addEventListener("pointermove", (e) => {
  const stroke = state.drawing;
  if (!stroke || stroke.pointerId !== e.pointerId) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) stroke.points.push(canvasPoint(ev));
  paintStroke({ ...stroke, points: stroke.points.slice(-events.length - 1) });
});
const endStroke = () => { state.drawing = null; };
sketch.addEventListener("pointerup", endStroke);
sketch.addEventListener("pointercancel", endStroke);

function setTool(tool) {
  state.tool = tool;
  $("tool-pen").classList.toggle("active", tool === "pen");
  $("tool-eraser").classList.toggle("active", tool === "eraser");
}
$("tool-pen").onclick = () => setTool("pen");
$("tool-eraser").onclick = () => setTool("eraser");
$("brush").oninput = (e) => { state.size = +e.target.value; $("brush-value").textContent = e.target.value; };
$("undo").onclick = () => { state.strokes.pop(); redraw(); };
$("clear").onclick = () => { state.strokes = []; redraw(); say("sketch-message", ""); };
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); $("undo").click(); }
  else if (e.target === document.body && e.key === "p") setTool("pen");
  else if (e.target === document.body && e.key === "e") setTool("eraser");
});

$("upload").onchange = (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  const limit = (state.limits.max_upload_mb || 5) * 1024 * 1024;
  if (file.size > limit) return say("sketch-message", `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ${state.limits.max_upload_mb} MB.`, true);
  const url = URL.createObjectURL(file), image = new Image();
  image.onload = () => { state.strokes.push({ image }); redraw(); URL.revokeObjectURL(url); say("sketch-message", `${file.name} loaded: draw on it or reconstruct.`); };
  image.onerror = () => { URL.revokeObjectURL(url); say("sketch-message", `${file.name} is not an image the browser can read.`, true); };
  image.src = url;
};

// ---- messages --------------------------------------------------------------------------------
function say(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

async function apiError(response) {
  try { return (await response.json()).detail || response.statusText; } catch { return `${response.status} ${response.statusText}`; }
}

// ---- views -----------------------------------------------------------------------------------
async function loadViews() {
  const data = await (await fetch("/api/views")).json();
  state.views = data.views;
  const select = $("view");
  select.innerHTML = "";
  if (data.estimate) {
    const option = document.createElement("option");
    option.value = "";
    option.textContent = "estimate it from the sketch (default)";
    select.appendChild(option);
  }
  for (const v of data.views) {
    const option = document.createElement("option");
    option.value = v.index;
    option.textContent = `${v.index}: ${v.label} (${Math.round(v.azimuth_deg)}°, ${Math.round(v.elevation_deg)}°)`;
    option.title = `azimuth ${v.azimuth_deg}°, elevation ${v.elevation_deg}°`;
    select.appendChild(option);
  }
  select.value = data.default == null ? "" : data.default;
  state.examples = data.examples;
  showExample();
}
function showExample() {
  const img = $("view-example");
  img.hidden = !state.examples || $("view").value === "";
  if (!img.hidden) img.src = `/api/views/${$("view").value}/example.png`;
}
$("view").onchange = showExample;
$("view-example").onerror = (e) => { e.target.hidden = true; };

async function loadHealth() {
  const health = await (await fetch("/api/health")).json();
  state.limits = health.limits;
  state.mode = health.mode || "encoder";
  $("refine-label").hidden = false;  // demo: optimize over all views; encoder: one code chosen against all drawings
  const banner = $("banner");
  if (!health.ready) {
    banner.hidden = false;
    banner.innerHTML = "";
    banner.append(health.message.split("`").reduce((parts, text, i) => {
      const el = i % 2 ? document.createElement("code") : document.createTextNode(text);
      if (i % 2) el.textContent = text;
      parts.append(el);
      return parts;
    }, document.createDocumentFragment()));
    $("submit").disabled = true;
  }
  const how = state.mode === "demo"
    ? `The demo's models: ${health.limits.steps} optimization steps from the mean shape`
    : `${health.models === "custom" ? "Your" : "The pretrained"} DeepSDF and sketch encoder: the shape at once` +
      (health.limits.steps > 0 ? `, then ${health.limits.steps} refinement steps` : "");
  $("footer").textContent = `${how}, ${health.limits.resolution}³ mesh grid; uploads up to ${health.limits.max_upload_mb} MB. One sketch is computed at a time; others wait in a queue of ${health.limits.max_queue}.`;
}

// ---- jobs ------------------------------------------------------------------------------------
let viewer = null;
try {
  viewer = new MeshViewer($("viewer"));
} catch (err) {  // no WebGL 2: the shapes can still be downloaded
  $("viewer-empty").textContent = `This browser cannot show 3D shapes (${err.message}); download them below.`;
}

function stopFollowing() {
  if (state.source) { state.source.close(); state.source = null; }
  if (state.poll) { clearTimeout(state.poll); state.poll = null; }
}

function showProgress(job) {
  window.appState.status = job.status;
  const first = job.shapes && job.shapes.first;
  const firstNote = first ? `First shape shown (${first.seconds}s). ` : "";
  const words = {
    queued: job.position > 1 ? `Waiting: ${job.position - 1} sketch(es) ahead of yours.` : job.models_loading ? "Loading the models…" : "Waiting: yours is next.",
    loading: "Loading the models…",
    encoding: "Computing the first shape…",
    searching: `${firstNote}Trying other readings of the drawing…`,
    refining: job.stop_requested ? `${firstNote}Stopping the refinement…` : `${firstNote}Refining: step ${job.step} of ${job.steps}${job.loss != null ? `, loss ${job.loss.toFixed(4)}` : ""}.`,
    optimizing: `Optimizing: step ${job.step} of ${job.steps}${job.loss != null ? `, loss ${job.loss.toFixed(4)}` : ""}.`,
    meshing: `${firstNote}Extracting the ${job.stop_requested ? "best shape so far" : "refined mesh"}…`,
    done: `Done in ${job.seconds}s: ${job.result && job.result.chosen ? `kept the ${job.result.chosen} shape, ` : ""}${job.faces.toLocaleString()} triangles.`,
    failed: `Failed: ${job.error}`,
    cancelled: `Cancelled: ${job.error}`,
  };
  say("status", words[job.status] || job.status, job.status === "failed");
  const fraction = { queued: 0, loading: 0.02, encoding: 0.05, meshing: 0.97, done: 1 }[job.status];
  const share = job.step / Math.max(1, job.steps);
  $("progress").value = fraction != null ? fraction : job.status === "refining" ? 0.1 + 0.85 * share : 0.95 * share;
  plotLosses(job.losses);
  const finished = ["done", "failed", "cancelled"].includes(job.status);
  const hasShape = Boolean(job.mesh);
  $("stop").hidden = finished || !job.stoppable || !hasShape;
  $("stop").disabled = Boolean(job.stop_requested);
  $("stop").textContent = job.stop_requested ? "Stopping…" : "Stop refining (keep this shape)";
  $("cancel").hidden = finished || !$("stop").hidden;
  if (job.result) {
    say("describe", job.result.describe);
    window.appState.describe = job.result.describe;
  }
  const poor = job.status === "done" && job.result && job.result.poor_match;
  window.appState.poorMatch = Boolean(poor);
  $("notice").hidden = !poor;
  if (poor) {
    $("notice").textContent = `This shape ignores parts of your sketch (${job.result.problem}): `
      + `try ${job.result.view_estimated ? "naming the view it is drawn from" : "another view (or none: estimate it)"}, adding a drawing from another view, or a model trained on such shapes.`;
  }
}

function plotLosses(losses) {
  const plot = $("loss-plot"), ctx = plot.getContext("2d");
  ctx.clearRect(0, 0, plot.width, plot.height);
  if (!losses || losses.length < 2) return;
  const lo = Math.min(...losses), hi = Math.max(...losses), span = hi - lo || 1;
  ctx.strokeStyle = "#3558d6";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  losses.forEach((v, i) => {
    const x = 2 + (plot.width - 4) * i / (losses.length - 1), y = 3 + (plot.height - 6) * (1 - (v - lo) / span);
    i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  });
  ctx.stroke();
}

// Where the viewer starts: the camera the sketch was drawn from (estimated or given), as the server describes it.
function jobCamera(job) {
  if (job.result && job.result.camera) return job.result.camera;
  const view = state.views.find((v) => v.index === job.view);
  return view && view.camera;
}

// Draw a published shape of the current job (in order: a later shape never hides under an earlier one).
function showShape(job, name, stage) {
  const links = job.shapes[name], jobId = job.id;
  const camera = jobCamera(job);
  state.draws = state.draws.then(async () => {
    const text = await (await fetch(links.obj)).text();
    if (state.jobId !== jobId) return;
    const faces = viewer ? viewer.setObj(text, camera) : links.faces;
    window.appState.faces = faces;
    window.appState.shown.push({ shape: name, stage, faces });
    $("viewer-empty").hidden = Boolean(viewer);
    for (const [id, url] of [["download-obj", links.obj], ["download-glb", links.glb]]) {
      $(id).href = url;
      $(id).classList.remove("disabled");
    }
    $("show-first").classList.toggle("active", name === "first");
    $("show-refined").classList.toggle("active", name === "refined");
  }).catch((err) => say("status", `The shape could not be loaded: ${err.message}`, true));
  return state.draws;
}

async function finish(job) {
  stopFollowing();
  setBusy(false);
  if (job.status !== "done") return;
  await showNewest(job);
  await state.draws;
  const both = job.shapes.first && job.shapes.refined;
  $("shape-toggle").hidden = !both;
  state.doneJobId = job.id;
  $("refine").disabled = false;
  window.appState.status = "shown";
}

// The newest shape of the job, once: the first one as soon as it exists (its coarse mesh, then the
// full one: the same name with more faces), then the kept one.
function showNewest(job) {
  if (!job.mesh) return state.draws;
  const key = `${job.mesh.shape}:${job.mesh.faces}:${job.mesh.stage === "done" ? "done" : "running"}`;
  if (state.drawn === key) return state.draws;
  const same = state.drawn && state.drawn.startsWith(`${job.mesh.shape}:${job.mesh.faces}:`);
  state.drawn = key;
  if (same) {  // the kept shape is the one already shown (or being loaded): note it, nothing to load
    const entry = { shape: job.mesh.shape, stage: job.mesh.stage, faces: job.mesh.faces };
    state.draws = state.draws.then(() => { if (state.jobId === job.id) window.appState.shown.push(entry); });
    return state.draws;
  }
  return showShape(job, job.mesh.shape, job.mesh.stage);
}

function update(job) {
  if (job.id !== state.jobId) return;
  state.job = job;
  showProgress(job);
  if (["done", "failed", "cancelled"].includes(job.status)) finish(job);
  else showNewest(job);
}

function poll(id) {
  state.poll = setTimeout(async () => {
    try {
      const response = await fetch(`/api/jobs/${id}`);
      if (!response.ok) { say("status", await apiError(response), true); setBusy(false); return; }
      update(await response.json());
    } catch (err) { say("status", `The server does not answer (${err.message}); retrying…`, true); }
    if (state.jobId === id && state.poll) poll(id);
  }, 700);
}

function follow(id) {
  stopFollowing();
  if (window.EventSource) {
    const source = new EventSource(`/api/jobs/${id}/events`);
    source.onmessage = (e) => update(JSON.parse(e.data));
    source.onerror = () => { source.close(); if (state.source === source) { state.source = null; poll(id); } };
    state.source = source;
  } else {
    poll(id);
  }
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("cancel").hidden = !busy;
  if (!busy) $("stop").hidden = true;
}

function hasInk() {
  const data = pen.getImageData(0, 0, sketch.width, sketch.height).data;
  for (let i = 0; i < data.length; i += 4) if (data[i] < 128) return true;
  return false;
}

$("submit").onclick = async () => {
  if (!hasInk()) return say("sketch-message", "The canvas is empty: draw the shape first (dark strokes).", true);
  say("sketch-message", "");
  setBusy(true);
  const view = $("view").value;
  const body = { image: sketch.toDataURL("image/png"), view: view === "" ? null : +view };
  if ($("refine").checked && state.doneJobId) body.refine = state.doneJobId;
  let response;
  try {
    response = await fetch("/api/reconstruct", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (err) {
    setBusy(false);
    return say("sketch-message", `The server does not answer: ${err.message}`, true);
  }
  if (!response.ok) {
    setBusy(false);
    return say("sketch-message", await apiError(response), true);
  }
  const job = await response.json();
  state.jobId = window.appState.jobId = job.id;
  state.drawn = null;
  window.appState.shown = [];
  window.appState.describe = "";
  say("describe", "");
  $("shape-toggle").hidden = true;
  showProgress(job);
  follow(job.id);
};

$("cancel").onclick = () => { if (state.jobId) fetch(`/api/jobs/${state.jobId}/cancel`, { method: "POST" }); };
$("stop").onclick = async () => {
  if (!state.jobId) return;
  $("stop").disabled = true;
  const response = await fetch(`/api/jobs/${state.jobId}/stop`, { method: "POST" });
  if (response.ok) update(await response.json());
  else say("status", await apiError(response), true);
};
for (const name of ["first", "refined"]) {
  $(`show-${name}`).onclick = () => { if (state.job && state.job.shapes[name]) showShape(state.job, name, name); };
}
// Leaving the page frees the server at once instead of after abandon_after_s.
window.addEventListener("pagehide", () => {
  if (state.jobId && !$("submit").disabled) return;
  if (state.jobId && navigator.sendBeacon) navigator.sendBeacon(`/api/jobs/${state.jobId}/cancel`);
});

clearCanvas();
loadHealth().catch((err) => say("status", `The server does not answer: ${err.message}`, true));
loadViews().catch((err) => say("sketch-message", `Views could not be loaded: ${err.message}`, true));
