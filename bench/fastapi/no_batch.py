"""The lab's no-batch server: one wine per request, FastAPI + scikit-learn.

Written for the benchmark baseline from the recorded API behaviour of the lab's app
(shared/reference/api-behaviour.md): GET / answers a greeting, POST /predict takes
the 13 named features and answers {"Prediction": class}. As in the lab, the handler
is a plain `def` (FastAPI runs it in its thread pool) and the pickled pipeline is
loaded once when the module is imported. The model path comes from $WINE_MODEL.

    WINE_MODEL=wine.pkl uvicorn no_batch:app --host 127.0.0.1 --port 8000
"""

import os
import pickle

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="Predicting Wine Class")

with open(os.environ.get("WINE_MODEL", "wine.pkl"), "rb") as file:
    clf = pickle.load(file)


class Wine(BaseModel):
    alcohol: float
    malic_acid: float
    ash: float
    alcalinity_of_ash: float
    magnesium: float
    total_phenols: float
    flavanoids: float
    nonflavanoid_phenols: float
    proanthocyanins: float
    color_intensity: float
    hue: float
    od280_od315_of_diluted_wines: float
    proline: float


@app.get("/")
def home():
    return "Congratulations! Your API is working as expected. Now head over to http://localhost:80/docs"


@app.post("/predict")
def predict(wine: Wine):
    data_point = np.array(
        [
            [
                wine.alcohol,
                wine.malic_acid,
                wine.ash,
                wine.alcalinity_of_ash,
                wine.magnesium,
                wine.total_phenols,
                wine.flavanoids,
                wine.nonflavanoid_phenols,
                wine.proanthocyanins,
                wine.color_intensity,
                wine.hue,
                wine.od280_od315_of_diluted_wines,
                wine.proline,
            ]
        ]
    )
    pred = clf.predict(data_point).tolist()
    return {"Prediction": pred[0]}
