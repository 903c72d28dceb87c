"""One way to wait: poll a check until it answers, time runs out, or something says to give up.

Every "wait until" in the lab, the scenarios (through ``Lab.wait_for``) and the harness uses it, so
the loop, its deadline arithmetic and its stop conditions are written once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(check: Callable[[], T], timeout: float, interval: float = 0.2, *,
         give_up: Callable[[], bool] | None = None, clock: Callable[[], float] = time.monotonic) -> T | None:
    """``check()``'s first truthy answer, or None when ``timeout`` seconds pass or ``give_up()`` is true.

    ``check`` runs at least once, and once more after the deadline is seen, so a condition that
    came true during the last sleep is not reported as a timeout.
    """
    deadline = clock() + timeout
    while True:
        expired = clock() >= deadline
        answer = check()
        if answer:
            return answer
        if expired or (give_up is not None and give_up()):
            return None
        time.sleep(max(0.0, min(interval, deadline - clock())) or interval / 10)
