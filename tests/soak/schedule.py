"""The fault schedule: which fault when, chosen by a seed (pure, so a seed replays a run).

Every kind of fault appears at least once, in an order and at times the seed picks;
longer runs repeat the whole set. Faults may overlap (a PostgreSQL restart while the
disk is full): deployments do not get one fault at a time either.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["KINDS", "Fault", "fault_schedule"]

#: Every fault the soak injects, with what it stands for.
KINDS = {
    "kill-leader": "kill -9 of the active publisher",
    "kill-leader-mid-batch": "kill -9 of the active publisher while it is running a batch",
    "stop-leader": "SIGSTOP of the active publisher for the hold time, then SIGCONT",
    "postgres-restart": "immediate stop and restart of the PostgreSQL server",
    "disk-full": "the repository's file system filled up for the hold time",
    "kill-sync": "kill -9 of 'tuf-pypi mirror sync' mid-run",
    "mirror-hang": "the faulty mirror accepts requests and never answers, for the hold time",
    "mirror-corrupt": "the faulty mirror flips a byte of every body, for the hold time",
    "clock-forward": "a client and a mirror sync run with their clock 2 days ahead (faketime)",
}
#: Seconds of run time each fault gets, at least, before the set repeats.
_SLOT = 20.0


@dataclass(frozen=True)
class Fault:
    at: float  #: seconds after the start of the run
    kind: str
    hold: float  #: how long a fault with a duration lasts


def fault_schedule(seed: int, start: float, end: float) -> list[Fault]:
    """Faults between ``start`` and ``end`` seconds into the run, in time order."""
    rng = random.Random(seed)
    window = max(end - start, 1.0)
    rounds = max(1, int(window // (_SLOT * len(KINDS))))
    kinds = [kind for _ in range(rounds) for kind in sorted(KINDS)]
    rng.shuffle(kinds)
    slot = window / len(kinds)
    hold = min(max(slot * 1.2, 3.0), 20.0)
    return [
        Fault(round(start + (i + rng.uniform(0.05, 0.5)) * slot, 2), kind, round(hold, 1))
        for i, kind in enumerate(kinds)
    ]
