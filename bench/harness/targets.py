"""The servers measured: one line each in TARGETS, and the request formats they speak.

bench/run measures the targets a run selects; bench/ab and bench/profile start `ours`
and `ceiling` from the same commands, so a flag added here reaches all three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Placeholders in a target's command, needs and env (filled by Target.argv and .environment):
#   {bin}   Rust binaries (target/release, or --bin-dir)   {api}    no-batch|with-batch
#   {port}  a free loopback port                          {module} no_batch|with_batch
#   {model} model written by wine-train                   {venv}   the FastAPI venv
#   {sk_model} the verified scikit-learn pickle           {fastapi} bench/fastapi
#   {ncpu}  the number of CPUs this run may use
#   {port2} {port3}  more free ports (a server's other listeners)
#   {mlserver_venv} {mlserver_model} {mlserver_repo}: MLServer's venv, its verified
#                     pickle, and an empty model repository (the model is set by env)
# A target is pinned (server on the server CPU, wrk on the others) unless it is
# colocated: then server and wrk share every usable CPU, unpinned, as when a user
# runs the load generator on the server's machine (the lab's own shape).
# A target speaks the lab's request format ("lab": the locustfile's bodies, POST
# /predict) or the V2 inference protocol ("v2", see v2_request); a run without
# --targets measures the targets whose `modes` hold its mode (full or quick).


@dataclass(frozen=True)
class Target:
    """One server to measure: its command, what it needs, how it answers."""

    name: str
    apis: tuple[str, ...]
    command: tuple[str, ...]
    needs: tuple[str, ...]
    predicts: bool  # answers are the model's (checked), not a constant
    env: tuple[tuple[str, str], ...] = ()
    colocated: bool = False  # server and wrk unpinned on the same CPUs
    request: str = "lab"  # request and answer format: "lab" or "v2"
    ready_path: str = "/"  # GET answers 200 once the server can predict
    predict_path: str = "/predict"
    modes: tuple[str, ...] = ("full", "quick")

    def argv(self, subs: dict[str, str]) -> list[str]:
        """The command line, placeholders filled."""
        return [a.format(**subs) for a in self.command]

    def environment(self, subs: dict[str, str]) -> dict[str, str]:
        """The variables the target sets, placeholders filled."""
        return {k: v.format(**subs) for k, v in self.env}

    def uses(self, key: str) -> bool:
        """Whether the placeholder {key} appears in the command, needs or env."""
        texts = self.command + self.needs + tuple(v for _, v in self.env)
        return any("{" + key + "}" in text for text in texts)


APIS = ("no-batch", "with-batch")
SERVE = ("--host", "127.0.0.1", "--port", "{port}")
WINE_SERVER = ("{bin}/wine-server", "--api", "{api}", *SERVE, "--model", "{model}")
WINE_NEEDS = ("{bin}/wine-server", "{bin}/wine-train")
CEILING_COMMAND = ("{bin}/examples/ceiling", "--api", "{api}", *SERVE)
UVICORN = ("{venv}/bin/uvicorn", "--app-dir", "{fastapi}", "{module}:app", *SERVE)

# MLServer, configured wholly by environment (an empty model repository makes it
# load the one model the MLSERVER_MODEL_* variables describe). The server is pinned
# to one CPU, so inference runs in the server process (PARALLEL_WORKERS=0: a worker
# pool would add a process hop and no CPU); debug off (it logs every request).
# Its API has no no-batch/with-batch split: it runs once per API, on that API's rows.
MLSERVER_MODEL = "wine"
MLSERVER_ENV = (
    ("MLSERVER_HOST", "127.0.0.1"),
    ("MLSERVER_HTTP_PORT", "{port}"),
    ("MLSERVER_GRPC_PORT", "{port2}"),
    ("MLSERVER_METRICS_PORT", "{port3}"),
    ("MLSERVER_PARALLEL_WORKERS", "0"),
    ("MLSERVER_DEBUG", "false"),
    ("MLSERVER_MODEL_NAME", MLSERVER_MODEL),
    ("MLSERVER_MODEL_IMPLEMENTATION", "mlserver_sklearn.SKLearnModel"),
    ("MLSERVER_MODEL_URI", "{mlserver_model}"),
)
MLSERVER_V2 = dict(
    request="v2",
    ready_path=f"/v2/models/{MLSERVER_MODEL}/ready",
    predict_path=f"/v2/models/{MLSERVER_MODEL}/infer",
)
MLSERVER_START = ("{mlserver_venv}/bin/mlserver", "start", "{mlserver_repo}")
# Adaptive batching: up to 64 requests merged into one predict() call, waiting at most
# 2 ms for them. "mlserver-unbatched" is the same server without it (--targets only).
MLSERVER_BATCHING = (
    ("MLSERVER_MODEL_MAX_BATCH_SIZE", "64"),
    ("MLSERVER_MODEL_MAX_BATCH_TIME", "0.002"),
)

TARGETS = [
    Target("ours", APIS, WINE_SERVER, WINE_NEEDS, True),
    Target("fastapi", APIS, UVICORN, UVICORN[:1], True, (("WINE_MODEL", "{sk_model}"),)),
    Target("ceiling", APIS, CEILING_COMMAND, CEILING_COMMAND[:1], False),
    # What GET /metrics costs: ours without it (the request clock and the route off).
    Target("ours-no-metrics", APIS[:1], (*WINE_SERVER, "--no-metrics"), WINE_NEEDS, True),
    # The shape users run: wrk beside the server, unpinned; our defaults, then one
    # worker thread per CPU.
    Target("ours-colocated", APIS[:1], WINE_SERVER, WINE_NEEDS, True, colocated=True),
    Target("ours-colocated-per-cpu", APIS[:1], (*WINE_SERVER, "--threads", "{ncpu}"),
           WINE_NEEDS, True, colocated=True),
    Target("mlserver", APIS, MLSERVER_START, MLSERVER_START[:1], True,
           MLSERVER_ENV + MLSERVER_BATCHING, **MLSERVER_V2, modes=("full",)),
    Target("mlserver-unbatched", APIS, MLSERVER_START, MLSERVER_START[:1], True,
           MLSERVER_ENV, **MLSERVER_V2, modes=()),
]
SUBJECT, BASELINE, CEILING = "ours", "fastapi", "ceiling"
NO_METRICS, COLOCATED = "ours-no-metrics", "ours-colocated"


def target(name: str) -> Target:
    """The target of that name."""
    return next(t for t in TARGETS if t.name == name)


# The answer of the lab's model (and so of ours) to a row of 13 x 1.0, as recorded in
# shared/reference/api-behaviour.md ("locustfile ... body"): class 1.
ALL_ONES_CLASS = 1


def v2_request(values: list[list[float]]) -> bytes:
    """A V2 (Open Inference Protocol) request for these rows: one FP64 tensor [rows, 13]."""
    tensor = {"name": "wine", "shape": [len(values), len(values[0])], "datatype": "FP64",
              "data": [v for row in values for v in row]}
    return json.dumps({"inputs": [tensor]}, allow_nan=False).encode()


def answered_classes(data: bytes) -> list[int] | None:
    """The classes in a V2 answer (its `predict` output); None if it has none."""
    try:
        outputs = {o["name"]: o for o in json.loads(data)["outputs"]}
        return [int(c) for c in outputs["predict"]["data"]]
    except (ValueError, KeyError, TypeError):
        return None
