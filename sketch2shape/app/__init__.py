"""``sketch2shape app``: a browser app to draw a sketch and get a 3D shape.

A local web server (:mod:`sketch2shape.app.server`, FastAPI + uvicorn) serves one page
(``static/``: a drawing canvas and a three.js mesh viewer, three.js vendored in
``static/vendor/three``, nothing fetched from the internet) and a JSON API; the reconstruction
runs in one worker thread
(:mod:`sketch2shape.app.jobs`) with the trained checkpoints (:mod:`sketch2shape.app.engine`).
Settings: ``sketch2shape/conf/app.yaml`` (:mod:`sketch2shape.app.settings`). Needs ``pip install -e ".[app]"``.
"""
