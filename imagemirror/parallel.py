"""Run a per-file function over many files on every core (fork), or in-process when small."""

from __future__ import annotations

import os
from typing import Callable, Sequence

# Below these, starting worker processes costs more than it saves.
MIN_FILES = 24
MIN_BYTES = 1_500_000

_TASK: Callable | None = None


def _call(item):
    assert _TASK is not None
    return _TASK(item)


def worth_forking(items: Sequence, jobs: int) -> int:
    """How many workers to use (1: stay in this process)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    if jobs == 1 or len(items) < 2 or (cores <= 1 and not jobs):
        return 1
    if jobs:
        return min(jobs, len(items))
    if len(items) >= MIN_FILES:
        return min(cores, len(items))
    total = 0
    for item in items:
        try:
            total += os.stat(item[0]).st_size
        except OSError:
            pass
    if len(items) < MIN_FILES and total < MIN_BYTES:
        return 1
    return min(cores, len(items))


def map_files(func: Callable, items: Sequence, jobs: int = 0) -> list:
    """``[func(item) for item in items]``, across processes when it pays.

    ``items`` are ``(path, ...)`` tuples; ``func`` may be a closure (workers are forked
    and inherit it).  Results keep the order of ``items``.
    """
    workers = worth_forking(items, jobs)
    if workers == 1:
        return [func(item) for item in items]
    import gc
    import multiprocessing

    # Objects alive now (modules, settings) are never garbage: freezing them keeps the
    # workers' collections from walking (and copy-on-write copying) the inherited heap.
    gc.freeze()
    _fast_results()
    global _TASK
    _TASK = func
    try:
        ctx = multiprocessing.get_context("fork")
        chunk = max(1, len(items) // (workers * 8))
        with ctx.Pool(workers) as pool:
            return pool.map(_call, items, chunksize=chunk)
    finally:
        _TASK = None


# Frozen slotted dataclasses (``model.ImageRef``) pickle through ``dataclasses``' own
# ``__getstate__``/``__setstate__``, which call ``fields()`` for every object: most of the cost
# of sending results back from the workers.  The same state, field by field, without it.
_SETTERS: dict[type, tuple] = {}


def _setters(cls) -> tuple:
    setters = _SETTERS.get(cls)
    if setters is None:
        import dataclasses

        out = []
        for f in dataclasses.fields(cls):
            slot = cls.__dict__.get(f.name)
            if slot is not None and type(slot).__name__ == "member_descriptor":
                out.append(slot.__set__)
            else:
                out.append(lambda obj, value, name=f.name: object.__setattr__(obj, name, value))
        setters = _SETTERS[cls] = tuple(out)
    return setters


def _rebuild(cls, state):
    obj = object.__new__(cls)
    for setter, value in zip(_setters(cls), state):
        setter(obj, value)
    return obj


def _fast_results() -> None:
    import dataclasses
    from multiprocessing.reduction import ForkingPickler

    from . import model

    getstate = getattr(dataclasses, "_dataclass_getstate", None)
    for cls in vars(model).values():
        if (
            isinstance(cls, type)
            and getstate is not None
            and cls.__dict__.get("__getstate__") is getstate
            and cls not in _SETTERS
        ):
            names = tuple(f.name for f in dataclasses.fields(cls))
            _setters(cls)

            def reduce(obj, cls=cls, names=names):
                return _rebuild, (cls, tuple([getattr(obj, n) for n in names]))

            ForkingPickler.register(cls, reduce)
