"""The request bodies: the locustfile's own, so every tool sends what the lab sends.

They are read from locustfile.py's source (its four @task bodies, evaluated) and
serialised as Locust's requests does for json=, so a change to the locustfile
changes what bench/run, bench/ab and bench/profile measure alike.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import ROOT, BenchError
from .targets import ALL_ONES_CLASS, Target, v2_request

NAMES = ["no-batch", "batch-1", "batch-32", "batch-64"]


@dataclass
class Body:
    """One request body of the locustfile, as bytes on the wire and as rows."""

    name: str  # no-batch, batch-1, batch-32, batch-64
    locust_name: str  # the task's name= in locustfile.py
    api: str
    rows: int
    data: bytes
    values: list[list[float]]  # the rows' features, in the model's order

    @property
    def expected(self) -> dict:
        """The lab's answer to this body (every row is 13 x 1.0)."""
        if self.api == "no-batch":
            return {"Prediction": ALL_ONES_CLASS}
        return {"Prediction": [ALL_ONES_CLASS] * self.rows}

    def record(self) -> dict:
        """The body as the result JSON lists it."""
        return {"name": self.name, "locust_name": self.locust_name, "api": self.api,
                "rows": self.rows, "bytes": len(self.data),
                "sha256": hashlib.sha256(self.data).hexdigest()}


def feature_names() -> list[str]:
    """The model's features in order: data/wine.csv's header without its target."""
    with open(ROOT / "data" / "wine.csv") as f:
        return f.readline().strip().split(",")[:-1]


def _is_task(fn: ast.AST) -> bool:
    return isinstance(fn, ast.FunctionDef) and any(
        isinstance(d, ast.Name) and d.id == "task" for d in fn.decorator_list
    )


def _task_body(fn: ast.FunctionDef, path: Path) -> tuple[ast.expr, str]:
    """The `request_body = ...` expression of a task and its name= keyword."""
    value = locust_name = None
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "request_body" for t in node.targets
        ):
            value = node.value
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    locust_name = kw.value.value
    if value is None or locust_name is None:
        raise BenchError(f"{path}: task {fn.name} has no request_body or name=")
    return value, locust_name


def locust_bodies(path: Path = ROOT / "locustfile.py") -> list[Body]:
    """The request bodies of locustfile.py's tasks, evaluated from its source.

    Each @task builds `request_body = ...` and posts it with requests' json=,
    which serialises with json.dumps(body, allow_nan=False): default separators.
    """
    tree = ast.parse(path.read_text(), str(path))
    bodies = []
    for fn in (node for node in ast.walk(tree) if _is_task(node)):
        value, locust_name = _task_body(fn, path)
        expr = ast.Expression(value)
        body = eval(compile(expr, str(path), "eval"), {"__builtins__": {}, "range": range})
        if "batches" in body:
            api, rows = "with-batch", len(body["batches"])
            name, values = f"batch-{rows}", body["batches"]
        else:
            api, rows, name = "no-batch", 1, "no-batch"
            missing = [f for f in feature_names() if f not in body]
            if missing:
                raise BenchError(f"{path}: task {fn.name}'s body lacks the features {missing}")
            values = [[body[f] for f in feature_names()]]
        data = json.dumps(body, allow_nan=False).encode()
        bodies.append(Body(name, locust_name, api, rows, data, values))
    order = {"no-batch": 0}
    bodies.sort(key=lambda b: (order.get(b.name, 1), b.rows))
    if [b.name for b in bodies] != NAMES:
        raise BenchError(f"{path}: unexpected tasks {[b.name for b in bodies]}")
    return bodies


def body(name: str) -> Body:
    """One of the locustfile's bodies, by name."""
    return next(b for b in locust_bodies() if b.name == name)


def request_body(target: Target, body: Body) -> bytes:
    """What `target` is sent for `body`: the same rows, in its request format."""
    return v2_request(body.values) if target.request == "v2" else body.data
