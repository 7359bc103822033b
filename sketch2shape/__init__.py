"""sketch2shape: turn a 2D sketch into a 3D shape.

DeepSDF auto-decoder + differentiable sphere tracing + a learned sketch/normal-map distance.
"""

import os

__version__ = "0.1.0"

# OpenMP threads that wait between torch's parallel regions spin for up to 300,000 rounds by
# default (GNU libgomp), and on a machine that other processes keep busy the spinners take the
# cores from the threads with work: three 2-thread processes on 2 cores each ran 15x slower than
# alone instead of about 3x, and one beside a busy Python loop 3.3x (benchmarks/busy_machine.py);
# with a short spin 2.9x and 1.9x, for about 10% more time on an idle machine. Read by libgomp
# when torch loads it, so it applies where sketch2shape is imported first
# (every command, script and task of the project); a value the user set, or OMP_WAIT_POLICY, wins.
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"
