"""How many threads the compiled kernels use: a fixed count, or "auto", measured as it runs.

A step's result does not depend on the thread count (the batch is split into a fixed number of
chunks, reduced in a fixed order), so the count is purely a speed choice, and "auto" can change
it at any time: it times rounds of steps with every core and with one thread, keeps using the
faster, and re-measures the other one round in `EXPLORE_EVERY` (in `FAR_EXPLORE_EVERY` when it
was 1.5x slower or more), so it backs off to one thread when other processes take the cores
(the best count's own rounds slow down: no exploring needed to notice; spinning worker threads
then cost more than they give) and returns to all cores when they are free again.

Each choice's estimate is the median of its last `WINDOW` rounds, so one disturbed round (a
compile, another process's burst) is forgotten after two more: an exponential average started
from a round that had compiled the kernels (seconds instead of milliseconds) kept "all cores"
looking slower than one thread for hundreds of steps, which is why the benchmark's defaults row
once ran at one thread's speed (213 steps/s where two threads gave 359).
"""

from __future__ import annotations

import statistics

import numba

from gfxnn.checks import check_int

EXPLORE_EVERY = 16  # rounds between two measurements of the slower choice
# ... and when it measured at least FAR_SLOWER times the best: four times fewer such rounds.
# On an idle 2-core VM one thread is 1.9-2.1x slower, and re-timing it one round in 16 cost
# 7% of a run (tcnn's image config: 25.2 against 23.4 ms a step at a fixed two threads).
FAR_SLOWER, FAR_EXPLORE_EVERY = 1.5, 64
WINDOW = 3  # rounds in each choice's median estimate


def max_threads() -> int:
    """The threads Numba may use in this process (NUMBA_NUM_THREADS, the cores by default)."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


def check_threads(threads: object) -> int | str:
    """`threads` as given ("auto" or an int >= 1), or a ValueError naming it."""
    if threads == "auto":
        return "auto"
    if isinstance(threads, str):
        raise ValueError(f"threads must be 'auto' or an integer >= 1, got {threads!r}")
    return check_int("threads", threads, 1)


class ThreadPolicy:
    """The thread count of each round of steps; `record` tells it how long a round took."""

    def __init__(self, threads: int | str = "auto") -> None:
        self.threads = check_threads(threads)
        most = max_threads()
        if self.threads == "auto":
            self.candidates = [most, 1] if most > 1 else [1]
        else:
            self.candidates = [min(int(self.threads), most)]
        self.seconds_per_step: dict[int, float] = {}
        self._history: dict[int, list[float]] = {}
        self._rounds = 0

    def choose(self) -> int:
        """The thread count for the next round (numba.set_num_threads is the caller's)."""
        self._rounds += 1
        unmeasured = [n for n in self.candidates if n not in self.seconds_per_step]
        if unmeasured:
            return unmeasured[0]
        best = self.best()
        if len(self.candidates) == 1:
            return best
        other = next(n for n in self.candidates if n != best)
        far = self.seconds_per_step[other] >= FAR_SLOWER * self.seconds_per_step[best]
        if self._rounds % (FAR_EXPLORE_EVERY if far else EXPLORE_EVERY) == 0:
            return other
        return best

    def best(self) -> int:
        """The fastest count measured so far (the first candidate before any measurement)."""
        if not self.seconds_per_step:
            return self.candidates[0]
        return min(self.seconds_per_step, key=lambda n: self.seconds_per_step[n])

    def record(self, n_threads: int, seconds: float, n_steps: int) -> None:
        if n_steps <= 0 or n_threads not in self.candidates:
            return
        history = self._history.setdefault(n_threads, [])
        history.append(seconds / n_steps)
        del history[:-WINDOW]
        self.seconds_per_step[n_threads] = statistics.median(history)
