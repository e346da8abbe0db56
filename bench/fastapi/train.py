"""Train the lab's scikit-learn model and check it against the reference predictions.

The recipe is the lab's: a Pipeline of StandardScaler and
RandomForestClassifier(n_estimators=10, random_state=42, max_features="sqrt")
fitted on the 133 training rows of data/split.json, in the order listed there
(the bootstrap samples depend on row order, so a sorted order gives another forest).
This reproduces the predictions of the lab's pickled model, which
data/reference-predictions.json records for the 178 rows of wine.csv followed by
the lab's example requests.

    python train.py --data DIR --out MODEL.pkl [--report REPORT.json]

Exits non-zero, printing the first mismatching rows, if any prediction differs from
the reference: a baseline that predicts something else is not the lab's baseline.
"""

import argparse
import csv
import hashlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# The feature columns are wine.csv's header (minus `target`): the file itself is the
# one list of names; verify() checks the reference uses the same order.
TARGET = "target"


def load_wine(path):
    """The 178 rows of wine.csv as (features, targets, feature names), in file order."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        names = list(reader.fieldnames or [])
        if len(names) != 14 or names[-1] != TARGET:
            raise SystemExit(f"{path}: unexpected header {names}")
        rows = list(reader)
    features = names[:-1]
    x = np.array([[float(r[name]) for name in features] for r in rows])
    y = np.array([int(r[TARGET]) for r in rows])
    return x, y, features


def train(x, y, train_rows):
    """The lab's pipeline, fitted on train_rows in the given order."""
    model = Pipeline(
        [
            ("scaler", StandardScaler()),
            (
                "random-forest",
                RandomForestClassifier(
                    n_estimators=10, random_state=42, max_features="sqrt"
                ),
            ),
        ]
    )
    model.fit(x[train_rows], y[train_rows])
    return model


def verify(model, x, features, reference):
    """Compare with the reference; returns a report dict (ok = predictions equal)."""
    if reference["feature_order"] != features:
        raise SystemExit("reference-predictions.json: unexpected feature_order")
    rows = np.array(reference["rows"], dtype=float)
    if not np.array_equal(rows[: len(x)], x):
        raise SystemExit("reference rows 0..177 are not wine.csv's rows")
    expected = np.array(reference["predictions"])
    got = model.predict(rows)
    mismatches = [int(i) for i in np.flatnonzero(got != expected)]
    proba = model.predict_proba(rows)
    proba_equal = bool(np.array_equal(proba, np.array(reference["predict_proba"])))
    return {
        "ok": not mismatches,
        "rows": int(len(rows)),
        "predictions_equal": int(len(rows) - len(mismatches)),
        "mismatches": mismatches,
        "predict_proba_equal": proba_equal,
        "ties": reference.get("ties", []),
        "sources": [s["file"] for s in reference["sources"]],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with wine.csv, split.json, reference-predictions.json")
    parser.add_argument("--out", type=Path, required=True, help="where to write the pickled pipeline")
    parser.add_argument("--report", type=Path, help="also write the verification report here (JSON)")
    args = parser.parse_args()

    x, y, features = load_wine(args.data / "wine.csv")
    split = json.loads((args.data / "split.json").read_text())
    train_rows = split["train"]
    if len(train_rows) != 133 or len(set(train_rows)) != 133:
        raise SystemExit("split.json: expected 133 distinct training rows")
    model = train(x, y, train_rows)

    reference = json.loads((args.data / "reference-predictions.json").read_text())
    report = verify(model, x, features, reference)
    report["sklearn_version"] = sklearn.__version__
    report["numpy_version"] = np.__version__
    report["reference_sklearn_version"] = reference.get("sklearn_version")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    args.out.write_bytes(blob)
    report["model_sha256"] = hashlib.sha256(blob).hexdigest()
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"sklearn {sklearn.__version__}: {report['predictions_equal']}/{report['rows']} "
        f"predictions equal the reference; predict_proba equal: {report['predict_proba_equal']}"
    )
    if not report["ok"]:
        shown = report["mismatches"][:10]
        print(f"MISMATCH at reference rows {shown} (of {len(report['mismatches'])})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
