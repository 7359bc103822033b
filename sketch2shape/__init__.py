"""sketch2shape: turn a 2D sketch into a 3D shape.

DeepSDF auto-decoder + differentiable sphere tracing + a learned sketch/normal-map distance.
"""

__version__ = "0.1.0"
