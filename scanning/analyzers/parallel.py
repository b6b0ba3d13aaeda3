"""Spread CPU-bound per-file analysis of one large artifact over several processes.

A scan is CPU-bound in pure Python (tokenizing and following JavaScript and Python code),
so one worker uses one core however many the machine has. For an artifact with megabytes
of source, `map_in_processes` cuts the files into size-balanced batches that the calling
process and a few analysis processes take from one queue until it is empty.

The analysis processes are plain child programs (`python -m scanning.analyzers.parallel`)
speaking length-prefixed pickles over their stdin and stdout, not `multiprocessing`
workers: a Celery prefork child is a daemonic process, which `multiprocessing` refuses to
give children, and forking a process that holds database and broker connections is unsafe.
A child imports only the analyzer modules (no Django). Linux ends a child whose parent dies
(PR_SET_PDEATHSIG); the caller kills its children when it stops early (a time limit); and
the batches of a child that fails are analysed in the calling process, so nothing is lost.
"""

from __future__ import annotations

import collections
import ctypes
import importlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

BATCHES_PER_PROCESS = 8
_HEADER = struct.Struct("!Q")
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def batches(weights: Sequence[int], count: int) -> list[list[int]]:
    """Indices of `weights` in `count` groups of near-equal total weight, heaviest groups first."""
    bins: list[list[int]] = [[] for _ in range(max(count, 1))]
    loads = [0] * len(bins)
    for index in sorted(range(len(weights)), key=lambda i: -weights[i]):
        lightest = loads.index(min(loads))
        bins[lightest].append(index)
        loads[lightest] += weights[index] + 1024  # a file costs something however small
    return [sorted(b) for b in bins if b]


def map_in_processes(batch_func: Callable[[list[Item]], list[Result]], items: Sequence[Item], *,
                     weights: Sequence[int], processes: int) -> list[Result]:
    """`batch_func` over `items`, results in order, using `processes` processes including this one.

    `batch_func` must be a module-level function of a `scanning.analyzers` module that imports
    without Django; it receives a list of items and returns one result per item.
    """
    if processes <= 1 or len(items) < 2:
        return batch_func(list(items))
    groups = batches(weights, processes * BATCHES_PER_PROCESS)
    results: list[Any] = [None] * len(items)
    pending = collections.deque(range(len(groups)))
    lock = threading.Lock()
    lost: list[int] = []
    in_children = 0

    def keep(group_index: int, values: list[Result]) -> None:
        for index, value in zip(groups[group_index], values, strict=True):
            results[index] = value

    def next_group() -> int | None:
        with lock:
            return pending.popleft() if pending else None

    def feed(child: _Child) -> None:
        nonlocal in_children
        while (group_index := next_group()) is not None:
            try:
                values = child.run(batch_func, [items[i] for i in groups[group_index]])
            except (OSError, ValueError, EOFError, pickle.UnpicklingError, _ChildFailed) as exc:
                with lock:
                    lost.append(group_index)
                logger.warning("analysis process lost; finishing its files here",
                               extra={"error": repr(exc), "files": len(groups[group_index])})
                return
            keep(group_index, values)
            with lock:
                in_children += 1

    children: list[_Child] = []
    feeders: list[threading.Thread] = []
    try:
        for _ in range(processes - 1):
            try:
                children.append(_Child.start())
            except OSError as exc:
                logger.warning("analysis process did not start; analysing here", extra={"error": repr(exc)})
                break
        for child in children:
            feeders.append(threading.Thread(target=feed, args=(child,), name="analysis-feeder", daemon=True))
            feeders[-1].start()
        while (group_index := next_group()) is not None:
            keep(group_index, batch_func([items[i] for i in groups[group_index]]))
        for feeder in feeders:
            feeder.join()
    finally:
        for child in children:
            child.stop()
    for group_index in lost:
        keep(group_index, batch_func([items[i] for i in groups[group_index]]))
    logger.info("analysis spread over processes", extra={"processes": len(children) + 1, "batches": len(groups),
                                                         "batches_in_children": in_children, "items": len(items)})
    return results


class _ChildFailed(Exception):
    pass


class _Child:
    """One analysis process and its pipes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls) -> _Child:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PROJECT_ROOT, os.environ.get("PYTHONPATH")]))}
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "scanning.analyzers.parallel"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, cwd=_PROJECT_ROOT, preexec_fn=end_with_parent(), close_fds=True)
        return cls(process)

    def run(self, func: Callable[[list[Any]], list[Any]], batch: list[Any]) -> list[Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        _send(self.process.stdin, (func.__module__, func.__qualname__, batch))
        ok, value = _receive(self.process.stdout)
        if not ok:
            raise _ChildFailed(value)
        return value

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def end_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child when the process that started it dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child must not load libraries

    def set_parent_death_signal() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_parent_death_signal


def _send(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("analysis process ended")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("analysis process ended mid-answer")
    return pickle.loads(data)  # noqa: S301 - from our own child process


def _serve() -> None:
    """The analysis process: run batches from stdin until it closes; answers on the original stdout."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() of an analyzer must not corrupt the answers
    requests = sys.stdin.buffer
    while True:
        try:
            module, name, batch = _receive(requests)
        except EOFError:
            return
        if not module.startswith("scanning."):
            _send(answers, (False, f"refused: {module}.{name}"))
            continue
        try:
            func = getattr(importlib.import_module(module), name)
            _send(answers, (True, func(batch)))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which analyses the batch itself
            _send(answers, (False, repr(exc)))


if __name__ == "__main__":
    _serve()
