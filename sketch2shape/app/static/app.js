// The page: a drawing canvas (mouse, pen, touch), the view picker, submitting a job, following
// its progress (server-sent events, polling if they fail) and showing the mesh.
// window.appState is what the browser test reads: {jobId, status, faces, viewerFrames}.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { tool: "pen", size: 4, strokes: [], drawing: null, views: [], jobId: null, doneJobId: null, source: null, poll: null, limits: {} };
window.appState = { jobId: null, status: "idle", faces: 0 };

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
  for (const v of data.views) {
    const option = document.createElement("option");
    option.value = v.index;
    option.textContent = `${v.index}: ${v.label} (${Math.round(v.azimuth_deg)}°, ${Math.round(v.elevation_deg)}°)`;
    option.title = `azimuth ${v.azimuth_deg}°, elevation ${v.elevation_deg}°`;
    select.appendChild(option);
  }
  select.value = data.default;
  state.examples = data.examples;
  showExample();
}
function showExample() {
  const img = $("view-example");
  img.hidden = !state.examples;
  if (state.examples) img.src = `/api/views/${$("view").value}/example.png`;
}
$("view").onchange = showExample;
$("view-example").onerror = (e) => { e.target.hidden = true; };

async function loadHealth() {
  const health = await (await fetch("/api/health")).json();
  state.limits = health.limits;
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
  $("footer").textContent = `${health.limits.steps} optimization steps, ${health.limits.resolution}³ mesh grid; uploads up to ${health.limits.max_upload_mb} MB. One shape is computed at a time; others wait in a queue of ${health.limits.max_queue}.`;
}

// ---- jobs ------------------------------------------------------------------------------------
const viewer = new MeshViewer($("viewer"));
window.viewer = viewer;

function stopFollowing() {
  if (state.source) { state.source.close(); state.source = null; }
  if (state.poll) { clearTimeout(state.poll); state.poll = null; }
}

function showProgress(job) {
  window.appState.status = job.status;
  const words = {
    queued: job.position > 1 ? `Waiting: ${job.position - 1} sketch(es) ahead of yours.` : job.models_loading ? "Loading the models…" : "Waiting: yours is next.",
    loading: "Loading the models…",
    optimizing: `Optimizing: step ${job.step} of ${job.steps}${job.loss != null ? `, loss ${job.loss.toFixed(4)}` : ""}.`,
    meshing: "Extracting the mesh…",
    done: `Done in ${job.seconds}s: ${job.faces.toLocaleString()} triangles.`,
    failed: `Failed: ${job.error}`,
    cancelled: `Cancelled: ${job.error}`,
  };
  say("status", words[job.status] || job.status, job.status === "failed");
  $("progress").value = job.status === "done" ? 1 : job.status === "meshing" ? 0.97 : 0.95 * job.step / Math.max(1, job.steps);
  plotLosses(job.losses);
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

async function finish(job) {
  stopFollowing();
  setBusy(false);
  if (job.status !== "done") return;
  const view = state.views.find((v) => v.index === job.view);
  const text = await (await fetch(job.mesh.obj)).text();
  window.appState.faces = viewer.setObj(text, view);
  $("viewer-empty").hidden = true;
  for (const [id, url] of [["download-obj", job.mesh.obj], ["download-glb", job.mesh.glb]]) {
    $(id).href = url;
    $(id).classList.remove("disabled");
  }
  state.doneJobId = job.id;
  $("refine").disabled = false;
  window.appState.status = "shown";
}

function update(job) {
  if (job.id !== state.jobId) return;
  showProgress(job);
  if (["done", "failed", "cancelled"].includes(job.status)) finish(job);
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
  const body = { image: sketch.toDataURL("image/png"), view: +$("view").value };
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
  showProgress(job);
  follow(job.id);
};

$("cancel").onclick = () => { if (state.jobId) fetch(`/api/jobs/${state.jobId}/cancel`, { method: "POST" }); };
// Leaving the page frees the server at once instead of after abandon_after_s.
window.addEventListener("pagehide", () => {
  if (state.jobId && !$("submit").disabled) return;
  if (state.jobId && navigator.sendBeacon) navigator.sendBeacon(`/api/jobs/${state.jobId}/cancel`);
});

clearCanvas();
loadHealth().catch((err) => say("status", `The server does not answer: ${err.message}`, true));
loadViews().catch((err) => say("sketch-message", `Views could not be loaded: ${err.message}`, true));
