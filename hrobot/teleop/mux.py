"""Command arbitration in the manner of twist_mux: sources with priorities and timeouts.

Each source (a topic) holds its latest command and when it came; the active source is the
highest-priority one heard from within its timeout, and its command is the skill's task command.
A teleoperator that releases its deadman sends one zero command and goes quiet, so control
returns to the high level one teleop timeout later; with no fresh source the command is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NONE = "none"


@dataclass(frozen=True)
class Source:
    name: str
    topic: str
    priority: int
    timeout: float  # seconds a command stays valid


class CommandMux:
    def __init__(self, sources: list[Source], size: int = 3):
        self.sources = sorted(sources, key=lambda s: -s.priority)
        self.latest = {s.name: (np.zeros(size), -np.inf) for s in sources}
        self.size = size

    def update(self, name: str, command: np.ndarray, now: float) -> None:
        self.latest[name] = (np.asarray(command, dtype=float).copy(), now)

    def select(self, now: float) -> tuple[str, np.ndarray]:
        """(active source, its command); (NONE, zeros) when every source is stale."""
        for s in self.sources:
            cmd, t = self.latest[s.name]
            if now - t <= s.timeout:
                return s.name, cmd.copy()
        return NONE, np.zeros(self.size)
