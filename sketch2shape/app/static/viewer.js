// The mesh viewer: three.js (vendored in vendor/three, mapped by index.html's import map).
//
// No camera convention lives here: the server sends each view as a camera of the project's
// model (sketch2shape/render/camera.py: `position` in world coordinates, looking at the origin,
// `fov_deg`); three.js's default up (+Y) is the project's up. Surfaces are colored like the
// project's normal maps (camera-space normal n shown as (n + 1) / 2, both sides of a face).
// Drag rotates, wheel / pinch zooms, double-click resets to the view the shape was opened in.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { OBJLoader } from "three/addons/loaders/OBJLoader.js";

export class MeshViewer {
  // canvas: the <canvas> to draw in. Throws when the browser has no WebGL 2.
  // canvas.dataset.frames counts the frames drawn, canvas.dataset.viewer names the renderer.
  constructor(canvas) {
    this.canvas = canvas;
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
    this.renderer.setClearColor(0xffffff, 1);
    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(50, 1, 0.05, 50);
    this.camera.position.set(0, 0, 3);  // until a shape comes with its view (the server always sends one)
    this.material = new THREE.MeshNormalMaterial({ side: THREE.DoubleSide });
    this.controls = new OrbitControls(this.camera, canvas);
    Object.assign(this.controls, { enablePan: false, minDistance: 1.3, maxDistance: 8 });
    this.controls.addEventListener("change", () => this.requestDraw());
    this.mesh = null;
    this.frames = 0;
    canvas.dataset.viewer = `three.js r${THREE.REVISION}`;
    canvas.addEventListener("dblclick", () => this.controls.reset());
    new ResizeObserver(() => this.requestDraw()).observe(canvas);
  }

  // Put the camera at `camera.position` (world coordinates, [x, y, z]) looking at the origin with
  // `camera.fov_deg`; double-click comes back here.
  setCamera(camera) {
    this.camera.fov = camera.fov_deg;
    this.camera.updateProjectionMatrix();
    this.camera.position.fromArray(camera.position);
    this.controls.target.set(0, 0, 0);
    this.controls.update();
    this.controls.saveState();
    this.requestDraw();
  }

  // Show the mesh of an OBJ file's text, from `camera` (as setCamera; none: the camera stays).
  // Returns the number of triangles.
  setObj(text, camera) {
    const shape = new OBJLoader().parse(text);
    let triangles = 0;
    shape.traverse((child) => {
      if (!child.isMesh) return;
      child.material = this.material;
      triangles += child.geometry.getAttribute("position").count / 3;
    });
    if (this.mesh) {
      this.scene.remove(this.mesh);
      this.mesh.traverse((child) => { if (child.isMesh) child.geometry.dispose(); });
    }
    this.mesh = shape;
    this.scene.add(shape);
    if (camera) this.setCamera(camera);
    this.requestDraw();
    return triangles;
  }

  requestDraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {  // the canvas is square (style.css); its buffer follows its CSS size
    const ratio = window.devicePixelRatio || 1, size = this.canvas.clientWidth || this.canvas.width;
    if (this.canvas.width !== Math.floor(size * ratio)) this.renderer.setDrawingBufferSize(size, size, ratio);
    this.renderer.render(this.scene, this.camera);
    if (!this.mesh) return;
    this.frames += 1;
    this.canvas.dataset.frames = String(this.frames);
  }
}
