"""`gfxnn sweep`: many images x many settings, in local processes or on a Ray cluster.

    from gfxnn.apps.sweep import run_sweep

    result = run_sweep(["astronaut", "circle"], grid={"learning_rate": [1e-3, 1e-2]},
                       steps=300, out_dir="runs/sweep")
    result.rows[0]["psnr"], result.best["settings"]

One module per job: `plan` (keys, grid and random points, trials), `images` (inputs),
`trial` (one fit, in a worker), `executors` (local pool, Ray), `schedule` (budgets, successive
halving), `results` (tables, resume, best config), `sheet` (contact sheet), `runner`
(`run_sweep`) and `command` (the command line). See docs/sweep.md.
"""

from gfxnn.apps.sweep.plan import SweepError
from gfxnn.apps.sweep.runner import DEFAULT_STEPS, SweepResult, run_sweep

__all__ = ["DEFAULT_STEPS", "SweepError", "SweepResult", "run_sweep"]
