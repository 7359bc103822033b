"""The two values of a sketch image (uint8 grayscale): ink strokes on paper.

Every sketch of the project uses them: the renderer's synthetic sketches
(:mod:`sketch2shape.render.sketch`), the hand-drawn-style ones (:mod:`sketch2shape.data.hand_drawn`)
and a user's drawing brought into their form (:mod:`sketch2shape.data.user_sketch`). This module
imports nothing, so reading a sketch file does not load torch (seconds) with the renderer.
"""

INK = 0  # stroke pixels: black
PAPER = 255  # background pixels: white
