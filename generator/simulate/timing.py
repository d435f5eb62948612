"""Bounded waiting and watching: every loop of the simulation ends by a deadline and
a count, whatever the daemons do."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Aborted(Exception):
    """The run is being stopped (Ctrl-C, SIGTERM or an overall time limit)."""


@dataclass
class Clock:
    """The run's abort flag: every wait checks it, so stopping never waits for a scenario."""

    abort: threading.Event

    def sleep(self, seconds: float) -> None:
        if self.abort.wait(max(0.0, seconds)):
            raise Aborted()

    def until(self, predicate: Callable[[], T], timeout: float, interval: float = 0.05) -> tuple[T | None, float]:
        """Poll `predicate` until it returns something truthy or `timeout` passes: (value or
        None, seconds waited). At most timeout/interval + 1 polls."""
        start = time.monotonic()
        for _ in range(int(timeout / interval) + 2):
            value = predicate()
            elapsed = time.monotonic() - start
            if value:
                return value, elapsed
            if elapsed >= timeout:
                break
            self.sleep(interval)
        return None, time.monotonic() - start

    def watch(self, sample: Callable[[], T], duration: float, interval: float = 0.1) -> list[tuple[float, T]]:
        """(seconds since start, sample) every `interval` for `duration` seconds."""
        start = time.monotonic()
        samples = []
        for _ in range(int(duration / interval) + 2):
            now = time.monotonic() - start
            samples.append((now, sample()))
            if now >= duration:
                break
            self.sleep(interval)
        return samples


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def count(n: int, word: str, plural: str = "") -> str:
    """"1 route", "2 routes"."""
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"
