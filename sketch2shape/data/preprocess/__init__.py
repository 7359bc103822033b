"""Per-shape preprocessing steps (mesh, sdf, surface, normals, synthetic) and the runner."""
