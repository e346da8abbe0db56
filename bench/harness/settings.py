"""The run's configuration (Settings: full, quick, or overridden) and context (Context).

Both used to be ad-hoc dicts and attributes in bench/run; as dataclasses, what a
measurement depends on is named in one place and recorded in the result JSON as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

# The connection count of the quick run and of the goals.
GOAL_CONNECTIONS = 10


@dataclass(frozen=True)
class Settings:
    """How much to measure: durations, repetitions, connection counts, noise handling."""

    duration: int  # seconds per wrk repetition
    warmup: int  # seconds of warm-up per cell (0: none)
    reps: int  # repetitions per cell (median reported)
    connections: tuple[int, ...]
    cold_reps: int  # starts whose time is the cold start (median)
    cold_discard: int  # starts before them that only warm the page cache
    settle: float  # seconds idle before reading RSS
    sanity: int  # requests per body checked before measuring
    quiet_wait: int  # seconds to wait for other processes to go quiet (0: do not)
    noise_limit: float  # % of the machine others may use during a repetition
    noise_redos: int  # repetitions measured again when others used more, per cell
    wrk_timeout: int = 10  # wrk --timeout, seconds
    start_timeout: float = 60.0  # seconds a server may take to answer its ready path

    def with_overrides(self, **given: object) -> Settings:
        """These settings with every override that is not None."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    def record(self) -> dict:
        """The settings as the result JSON records them."""
        return {
            "duration_s": self.duration, "warmup_s": self.warmup, "repetitions": self.reps,
            "connections": list(self.connections), "cold_start_repetitions": self.cold_reps,
            "cold_start_discarded": self.cold_discard,
            "wrk_threads": "min(connections, len(loadgen_cpus))",
            "wrk_timeout_s": self.wrk_timeout, "sanity_requests_per_body": self.sanity,
            "quiet_wait_s": self.quiet_wait, "noise_limit_pct": self.noise_limit,
            "noise_redos": self.noise_redos,
        }


FULL = Settings(duration=5, warmup=2, reps=3, connections=(1, 10, 100), cold_reps=3,
                cold_discard=1, settle=1.0, sanity=20, quiet_wait=60, noise_limit=10.0,
                noise_redos=3)
QUICK = Settings(duration=1, warmup=0, reps=1, connections=(GOAL_CONNECTIONS,), cold_reps=1,
                 cold_discard=0, settle=0.2, sanity=50, quiet_wait=0, noise_limit=10.0,
                 noise_redos=0)


@dataclass
class Context:
    """Where a run measures: its work folder, CPUs, and the targets' placeholders."""

    work: Path
    server_cpus: set[int]
    loadgen_cpus: set[int]
    usable: set[int]
    subs: dict[str, str] = field(default_factory=dict)  # see targets.py's placeholders

    def cpus(self, colocated: bool) -> tuple[set[int], set[int]]:
        """(server CPUs, wrk CPUs) for a target: every usable CPU for both if colocated."""
        if colocated:
            return self.usable, self.usable
        return self.server_cpus, self.loadgen_cpus
