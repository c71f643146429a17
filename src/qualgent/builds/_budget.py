"""A work budget for the readers of untrusted binary formats."""

from __future__ import annotations


class BudgetExceeded(ValueError):
    """The input needs more steps than its reader allows."""


class Budget:
    """How many chunks or fields a reader may visit: bounds its time on hostile input,
    where the caps on input size already bound its memory."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BudgetExceeded("the structure has more parts than allowed")
