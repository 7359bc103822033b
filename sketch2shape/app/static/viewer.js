// A small mesh viewer: WebGL (2, else 1) and a 2D-canvas fallback, no libraries.
//
// Conventions are the project's (sketch2shape/render/camera.py): +Y up, the chair's front faces
// +Z, azimuth 0 looks at the front and positive azimuth turns the camera towards +X. Surfaces are
// colored like the project's normal maps: camera-space normal n shown as (n + 1) / 2, with a
// little diffuse light for depth. Drag rotates, wheel / pinch zooms, double-click resets.
"use strict";

const M4 = {
  perspective(fovY, aspect, near, far) {
    const f = 1 / Math.tan(fovY / 2), nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
  },
  // World-to-camera matrix (column-major) for a camera at `eye` looking at the origin, Y up.
  lookAtOrigin(eye) {
    const len = Math.hypot(...eye), back = eye.map((v) => v / len);
    let right = [back[2], 0, -back[0]];  // up x back with up = (0, 1, 0)
    const rl = Math.hypot(...right) || 1;
    right = right.map((v) => v / rl);
    const up = [back[1] * right[2] - back[2] * right[1], back[2] * right[0] - back[0] * right[2], back[0] * right[1] - back[1] * right[0]];
    const t = (a) => -(a[0] * eye[0] + a[1] * eye[1] + a[2] * eye[2]);
    return [right[0], up[0], back[0], 0, right[1], up[1], back[1], 0, right[2], up[2], back[2], 0, t(right), t(up), t(back), 1];
  },
  apply(m, p) {  // column-major 4x4 times (x, y, z, 1)
    return [0, 1, 2, 3].map((r) => m[r] * p[0] + m[4 + r] * p[1] + m[8 + r] * p[2] + m[12 + r]);
  },
};

// Parse the v / f lines of an OBJ (faces "a", "a/b", "a//c" or "a/b/c"; polygons become fans).
function parseObj(text) {
  const positions = [], indices = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("v ")) {
      const p = line.trim().split(/\s+/);
      positions.push(+p[1], +p[2], +p[3]);
    } else if (line.startsWith("f ")) {
      const ids = line.trim().split(/\s+/).slice(1).map((tok) => {
        const i = parseInt(tok.split("/")[0], 10);
        return i < 0 ? positions.length / 3 + i : i - 1;
      });
      for (let k = 1; k + 1 < ids.length; k++) indices.push(ids[0], ids[k], ids[k + 1]);
    }
  }
  return { positions: new Float32Array(positions), indices: new Uint32Array(indices) };
}

// Area-weighted vertex normals.
function vertexNormals(positions, indices) {
  const normals = new Float32Array(positions.length);
  for (let f = 0; f < indices.length; f += 3) {
    const a = indices[f] * 3, b = indices[f + 1] * 3, c = indices[f + 2] * 3;
    const ux = positions[b] - positions[a], uy = positions[b + 1] - positions[a + 1], uz = positions[b + 2] - positions[a + 2];
    const vx = positions[c] - positions[a], vy = positions[c + 1] - positions[a + 1], vz = positions[c + 2] - positions[a + 2];
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    for (const i of [a, b, c]) { normals[i] += nx; normals[i + 1] += ny; normals[i + 2] += nz; }
  }
  for (let i = 0; i < normals.length; i += 3) {
    const l = Math.hypot(normals[i], normals[i + 1], normals[i + 2]) || 1;
    normals[i] /= l; normals[i + 1] /= l; normals[i + 2] /= l;
  }
  return normals;
}

const VERTEX_SHADER = `
attribute vec3 position; attribute vec3 normal;
uniform mat4 view; uniform mat4 projection;
varying vec3 vNormal; varying vec3 vPosition;
void main() {
  vec4 p = view * vec4(position, 1.0);
  vPosition = p.xyz;
  vNormal = mat3(view) * normal;
  gl_Position = projection * p;
}`;
const FRAGMENT_SHADER = `
precision mediump float;
varying vec3 vNormal; varying vec3 vPosition;
void main() {
  vec3 n = normalize(vNormal);
  if (dot(n, -vPosition) < 0.0) n = -n;  // marching-cubes meshes may face either way: show both sides
  vec3 color = (n + 1.0) * 0.5;
  float light = 0.6 + 0.4 * max(dot(n, normalize(vec3(0.3, 0.5, 1.0))), 0.0);
  gl_FragColor = vec4(color * light, 1.0);
}`;

class MeshViewer {
  constructor(canvas) {
    this.canvas = canvas;
    this.home = { azimuth: 30, elevation: 25, distance: 3.3 };
    Object.assign(this, this.home);
    this.mesh = null;
    this.frames = 0;
    const gl2 = canvas.getContext("webgl2", { antialias: true });
    this.gl = gl2 || canvas.getContext("webgl", { antialias: true });
    // 32-bit indices: WebGL 2 has them, WebGL 1 through an extension (meshes exceed 65536 vertices).
    if (this.gl && (gl2 || this.gl.getExtension("OES_element_index_uint"))) {
      this.mode = "webgl";
      this.setupGl();
    } else {
      this.gl = null;
      this.mode = "2d";
      this.ctx = canvas.getContext("2d");
    }
    this.bindControls();
  }

  setupGl() {
    const gl = this.gl;
    const compile = (type, source) => {
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
      return shader;
    };
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl.VERTEX_SHADER, VERTEX_SHADER));
    gl.attachShader(program, compile(gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
    gl.linkProgram(program);
    this.program = program;
    this.loc = {
      position: gl.getAttribLocation(program, "position"), normal: gl.getAttribLocation(program, "normal"),
      view: gl.getUniformLocation(program, "view"), projection: gl.getUniformLocation(program, "projection"),
    };
    this.buffers = { position: gl.createBuffer(), normal: gl.createBuffer(), index: gl.createBuffer() };
  }

  // Show a mesh; `view` = {azimuth_deg, elevation_deg} starts the camera where the sketch was drawn.
  setMesh(positions, indices, view) {
    const normals = vertexNormals(positions, indices);
    this.mesh = { positions, indices, normals };
    if (view) this.home = { azimuth: view.azimuth_deg, elevation: view.elevation_deg, distance: 3.3 };  // the unit sphere fills the view
    Object.assign(this, this.home);
    if (this.gl) {
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.position);
      gl.bufferData(gl.ARRAY_BUFFER, positions, gl.STATIC_DRAW);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.normal);
      gl.bufferData(gl.ARRAY_BUFFER, normals, gl.STATIC_DRAW);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.index);
      gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices, gl.STATIC_DRAW);
    }
    this.requestDraw();
  }

  setObj(text, view) {
    const { positions, indices } = parseObj(text);
    this.setMesh(positions, indices, view);
    return indices.length / 3;
  }

  viewMatrix() {
    const az = this.azimuth * Math.PI / 180, el = this.elevation * Math.PI / 180;
    return M4.lookAtOrigin([Math.cos(el) * Math.sin(az) * this.distance, Math.sin(el) * this.distance, Math.cos(el) * Math.cos(az) * this.distance]);
  }

  requestDraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  resize() {
    const ratio = window.devicePixelRatio || 1, size = Math.round(this.canvas.clientWidth * ratio) || this.canvas.width;
    if (this.canvas.width !== size) { this.canvas.width = size; this.canvas.height = size; }
  }

  draw() {
    this.resize();
    if (!this.mesh) return;
    const view = this.viewMatrix(), projection = M4.perspective(40 * Math.PI / 180, 1, 0.05, 50);
    if (this.gl) this.drawGl(view, projection); else this.draw2d(view, projection);
    this.frames += 1;
    this.canvas.dataset.frames = String(this.frames);
  }

  drawGl(view, projection) {
    const gl = this.gl, loc = this.loc;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(this.program);
    gl.uniformMatrix4fv(loc.view, false, new Float32Array(view));
    gl.uniformMatrix4fv(loc.projection, false, new Float32Array(projection));
    for (const [name, buffer] of [["position", this.buffers.position], ["normal", this.buffers.normal]]) {
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.enableVertexAttribArray(loc[name]);
      gl.vertexAttribPointer(loc[name], 3, gl.FLOAT, false, 0, 0);
    }
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.index);
    gl.drawElements(gl.TRIANGLES, this.mesh.indices.length, gl.UNSIGNED_INT, 0);
  }

  // Painter's algorithm: faces sorted far to near, flat-shaded with the same colors.
  draw2d(view, projection) {
    const ctx = this.ctx, w = this.canvas.width, h = this.canvas.height;
    const { positions, indices } = this.mesh, n = positions.length / 3;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    const cam = new Float32Array(n * 3), screen = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const c = M4.apply(view, [positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]]);
      const p = M4.apply(projection, c);
      cam.set(c.slice(0, 3), 3 * i);
      screen[2 * i] = (p[0] / p[3] * 0.5 + 0.5) * w;
      screen[2 * i + 1] = (0.5 - p[1] / p[3] * 0.5) * h;
    }
    const faces = [];
    for (let f = 0; f < indices.length; f += 3) {
      const [a, b, c] = [indices[f] * 3, indices[f + 1] * 3, indices[f + 2] * 3];
      faces.push([f, cam[a + 2] + cam[b + 2] + cam[c + 2]]);
    }
    faces.sort((x, y) => x[1] - y[1]);
    for (const [f] of faces) {
      const ids = [indices[f], indices[f + 1], indices[f + 2]];
      const [a, b, c] = ids.map((i) => [cam[3 * i], cam[3 * i + 1], cam[3 * i + 2]]);
      const u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]], v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
      let nrm = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
      const l = Math.hypot(...nrm) || 1;
      nrm = nrm.map((x) => x / l);
      if (nrm[0] * -a[0] + nrm[1] * -a[1] + nrm[2] * -a[2] < 0) nrm = nrm.map((x) => -x);
      const light = 0.6 + 0.4 * Math.max(0, (nrm[0] * 0.3 + nrm[1] * 0.5 + nrm[2]) / 1.158);
      const rgb = nrm.map((x) => Math.round((x + 1) * 0.5 * light * 255));
      ctx.fillStyle = ctx.strokeStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
      ctx.beginPath();
      ctx.moveTo(screen[2 * ids[0]], screen[2 * ids[0] + 1]);
      ctx.lineTo(screen[2 * ids[1]], screen[2 * ids[1] + 1]);
      ctx.lineTo(screen[2 * ids[2]], screen[2 * ids[2] + 1]);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();  // hides the hairline seams between neighbouring triangles
    }
  }

  bindControls() {
    const canvas = this.canvas, pointers = new Map();
    let pinch = null;
    canvas.addEventListener("pointerdown", (e) => {
      canvas.setPointerCapture(e.pointerId);
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      canvas.style.cursor = "grabbing";
    });
    canvas.addEventListener("pointermove", (e) => {
      const last = pointers.get(e.pointerId);
      if (!last) return;
      if (pointers.size === 1) {
        this.azimuth -= (e.clientX - last.x) * 0.5;
        this.elevation = Math.max(-85, Math.min(85, this.elevation + (e.clientY - last.y) * 0.5));
      }
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 2) {
        const [p, q] = [...pointers.values()], d = Math.hypot(p.x - q.x, p.y - q.y);
        if (pinch) this.zoom(pinch / d);
        pinch = d;
      }
      this.requestDraw();
    });
    const release = (e) => {
      pointers.delete(e.pointerId);
      pinch = null;
      canvas.style.cursor = "grab";
    };
    canvas.addEventListener("pointerup", release);
    canvas.addEventListener("pointercancel", release);
    canvas.addEventListener("wheel", (e) => { e.preventDefault(); this.zoom(Math.exp(e.deltaY * 0.001)); }, { passive: false });
    canvas.addEventListener("dblclick", () => { Object.assign(this, this.home); this.requestDraw(); });
    window.addEventListener("resize", () => this.requestDraw());
  }

  zoom(factor) {
    this.distance = Math.max(1.3, Math.min(8, this.distance * factor));
    this.requestDraw();
  }
}

window.MeshViewer = MeshViewer;
window.parseObj = parseObj;
