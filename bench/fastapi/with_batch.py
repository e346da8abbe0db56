"""The lab's with-batch server: many wines per request, FastAPI + scikit-learn.

Written for the benchmark baseline from the recorded API behaviour of the lab's app
(shared/reference/api-behaviour.md): GET / answers a greeting, POST /predict takes
{"batches": [[13 numbers], ...]} and answers {"Prediction": [class, ...]}. Rows of
other lengths are 422s from pydantic; an empty list reaches scikit-learn and is a
500, as in the lab. The handler is a plain `def` and the pickled pipeline is loaded
once at import. The model path comes from $WINE_MODEL.

    WINE_MODEL=wine.pkl uvicorn with_batch:app --host 127.0.0.1 --port 8001
"""

import os
import pickle
from typing import List

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, conlist

app = FastAPI(title="Predicting Wine Class with batching")

with open(os.environ.get("WINE_MODEL", "wine.pkl"), "rb") as file:
    clf = pickle.load(file)


class Wine(BaseModel):
    batches: List[conlist(item_type=float, min_length=13, max_length=13)]


@app.get("/")
def home():
    return "Congratulations! Your API is working as expected. This new version allows for batching. Now head over to http://localhost:81/docs"


@app.post("/predict")
def predict(wine: Wine):
    np_batches = np.array(wine.batches)
    pred = clf.predict(np_batches).tolist()
    return {"Prediction": pred}
