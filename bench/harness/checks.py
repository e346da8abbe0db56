"""The answers checked before a server is measured: a fast wrong server is no result.

Every body must answer 200, and a target that predicts must answer what the lab's
model answers; a V2 (MLServer) target is also sent every reference row of
data/reference-predictions.json and must predict them all as recorded.
"""

from __future__ import annotations

import json

from . import ROOT, BenchError
from .bodies import Body, feature_names, request_body
from .processes import request
from .targets import ALL_ONES_CLASS, Target, answered_classes, v2_request


def check_answers(port: int, target: Target, bodies: list[Body], n: int) -> None:
    """Every body answers 200 (and the model's answer, for predicting targets); n each.

    A V2 target is also sent all the reference rows in one request, and must answer
    data/reference-predictions.json's predictions: the model as served, not only as trained.
    """
    post = target.predict_path
    for body in bodies:
        for _ in range(n):
            status, data = request(port, "POST", post, request_body(target, body))
            if status != 200:
                raise BenchError(f"{target.name} {body.name}: POST {post} answered {status}: "
                                 f"{data[:300]!r}")
        if target.predicts and target.request == "v2":
            if answered_classes(data) != [ALL_ONES_CLASS] * body.rows:
                raise BenchError(f"{target.name} {body.name}: answered {data[:200]!r}, "
                                 f"expected {body.rows} x class {ALL_ONES_CLASS}")
        elif target.predicts:
            got = json.loads(data)
            if got != body.expected:
                raise BenchError(f"{target.name} {body.name}: answered {data[:200]!r}, "
                                 f"expected {body.expected}")
    if target.predicts and target.request == "v2":
        check_reference_rows(port, target)


def check_reference_rows(port: int, target: Target) -> None:
    """All of data/reference-predictions.json's rows, in one V2 request, predicted as recorded."""
    reference = json.loads((ROOT / "data" / "reference-predictions.json").read_text())
    if reference["feature_order"] != feature_names():
        raise BenchError("data/reference-predictions.json: feature_order is not data/wine.csv's")
    status, data = request(port, "POST", target.predict_path, v2_request(reference["rows"]))
    got = answered_classes(data) if status == 200 else None
    if got != reference["predictions"]:
        wrong = ("no predictions" if got is None else
                 f"{sum(a != b for a, b in zip(got, reference['predictions']))} differ")
        raise BenchError(f"{target.name}: the {len(reference['rows'])} reference rows answered "
                         f"{status} ({wrong}): {data[:200]!r}; refusing to benchmark a server "
                         "that does not predict as the lab's model")
