"""What `qualgent ci` shows while it waits: a live table (rich) on a terminal, one plain line
per change otherwise (CI logs are files: a redrawn table would be noise there)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Protocol

from qualgent.client import TERMINAL, Run

ICONS = {"queued": "◌", "running": "▶", "passed": "✔", "failed": "✘", "completed": "●"}
STYLES = {"queued": "dim", "running": "cyan", "passed": "green", "failed": "bold red",
          "completed": "blue"}


@dataclass
class Tracked:
    """One run being waited for."""

    id: str
    case: str
    device: str
    link: str
    status: str = "queued"
    progress: int = 0
    run: Run | None = None  # the latest full status read, when there is one

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def update(self, status: str, progress: int, link: str | None = None) -> bool:
        """True when something shown changed."""
        changed = (status, progress) != (self.status, self.progress)
        self.status, self.progress = status, progress
        if link:
            self.link = link
        return changed


class Display(Protocol):
    def start(self, runs: list[Tracked]) -> None: ...
    def changed(self, run: Tracked) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class PlainDisplay:
    """`HH:MM:SS status progress% case [device] run-id link`, once per change."""

    def __init__(self) -> None:
        self.out = sys.stdout

    def _line(self, run: Tracked) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} {run.status:<9} {run.progress:>3}% {run.case} [{run.device}] "
              f"{run.id} {run.link}", file=self.out, flush=True)

    def start(self, runs: list[Tracked]) -> None:
        for run in runs:
            self._line(run)

    def changed(self, run: Tracked) -> None:
        self._line(run)

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def stop(self) -> None:
        pass


class LiveDisplay:
    """A table redrawn in place: run, case, device, status (icon and word), progress, link."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console()
        self.runs: list[Tracked] = []
        self.live = None

    def _table(self):  # noqa: ANN202 - a rich Table
        from rich.table import Table
        from rich.text import Text

        table = Table(expand=False)
        for column in ("Run", "Test case", "Device", "Status", "Progress", "Link"):
            table.add_column(column, no_wrap=column in ("Run", "Status", "Progress", "Link"))
        for r in self.runs:
            filled = r.progress // 10
            bar = "█" * filled + "░" * (10 - filled)
            table.add_row(r.id[:8], r.case, r.device,
                          Text(f"{ICONS.get(r.status, '?')} {r.status}",
                               style=STYLES.get(r.status, "")),
                          f"{bar} {r.progress:>3}%", r.link)
        return table

    def start(self, runs: list[Tracked]) -> None:
        from rich.live import Live

        self.runs = runs
        self.live = Live(self._table(), console=self.console, refresh_per_second=4)
        self.live.start()

    def changed(self, run: Tracked) -> None:
        if self.live is not None:
            self.live.update(self._table())

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()
            self.live = None


def for_stdout() -> Display:
    return LiveDisplay() if sys.stdout.isatty() else PlainDisplay()
