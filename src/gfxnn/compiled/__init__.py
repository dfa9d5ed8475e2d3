"""The compiled CPU trainer: the fused path's maths in a few Numba kernels on every core.

`CompiledTrainer(spec, target)` implements `gfxnn.fields.trainer.Trainer`; `available()` says
whether Numba can be imported (without it the NumPy fused trainer is the CPU backend). Kernels
are compiled on first use and cached on disk (Numba's `cache=True`, in `__pycache__` beside
these files), so only the first run on a machine pays the compile time (docs/flagship.md).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CPU_BACKENDS",
    "CompiledTrainer",
    "available",
    "compiled_trainer",
    "cpu_trainer_factory",
]

#: The CPU trainers a fitter can use: "auto" is "compiled" when Numba imports, else "numpy".
CPU_BACKENDS = ("auto", "compiled", "numpy")


def available() -> bool:
    """True when Numba imports (the compiled trainer can run)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def compiled_trainer(spec: Any, target: Any = None, **options: Any) -> Any:
    """A `CompiledTrainer` (the factory signature the controller takes)."""
    from gfxnn.compiled.trainer import CompiledTrainer

    return CompiledTrainer(spec, target, **options)


def cpu_trainer_factory(backend: str = "auto", threads: int | str = "auto") -> Any:
    """The (spec, target) -> Trainer factory of a CPU backend.

    "compiled" runs with `threads` ("auto": measured, see `gfxnn.compiled.threads`; or a
    count). "numpy" is the NumPy fused trainer (its BLAS threads are the controller's
    `blas_threads`; `threads` does not apply). "auto" takes the one measured faster for the
    model (docs/flagship.md): the compiled trainer, except for trainable grids of other than
    2 inputs, whose compiled gather/scatter go one point and corner at a time (2-D grids have
    their own, `gfxnn.compiled.grid2d`: tcnn's image config 41 ms a step on one core against
    NumPy's 58); and NumPy whenever Numba is not installed ("compiled" then raises
    ImportError).
    """
    from gfxnn.checks import check_choice
    from gfxnn.fused import make_trainer

    check_choice("backend", backend, CPU_BACKENDS)
    if backend == "compiled" and not available():
        raise ImportError(
            "backend 'compiled' needs Numba (pip install 'gfxnn[compiled]'); or use 'numpy'"
        )
    if available():  # gfxnn.compiled.threads imports Numba; without it `threads` is unused
        from gfxnn.compiled.threads import check_threads

        threads = check_threads(threads)

    def cpu_trainer(spec: Any, target: Any) -> Any:
        chosen = backend
        if chosen == "auto":
            slow_grid = spec.encoding.get("otype") in GRID_OTYPES and spec.n_input_dims != 2
            chosen = "compiled" if available() and not slow_grid else "numpy"
        if chosen == "numpy":
            return make_trainer(spec, target, blas_threads=None)
        return compiled_trainer(spec, target, threads=threads)

    return cpu_trainer


GRID_OTYPES = ("HashGrid", "DenseGrid", "Grid")


def __getattr__(name: str) -> Any:
    if name == "CompiledTrainer":
        from gfxnn.compiled.trainer import CompiledTrainer

        return CompiledTrainer
    raise AttributeError(name)
