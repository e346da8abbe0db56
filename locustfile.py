"""Locust load test for the wine lab's four servers.

The same four tasks, names and request bodies as the lab's locustfile: batch-1,
batch-32 and batch-64 post batches of 1, 32 and 64 rows to the with-batch server,
0:batch posts one named wine to the no-batch server.

Each target's base URL defaults to its Docker Compose service name (as in the lab)
and can be overridden by an environment variable for runs outside Compose, which is
how `wine-lab` points Locust at servers on loopback:

    NO_BATCH_URL   (default http://no-batch:80)
    BATCH_1_URL    (default http://batch-1:80)
    BATCH_32_URL   (default http://batch-32:80)
    BATCH_64_URL   (default http://batch-64:80)
"""

import os

from locust import HttpUser, constant, task


def target(service):
    """Base URL of one server: $<SERVICE>_URL, else the Compose service name."""
    variable = service.upper().replace("-", "_") + "_URL"
    return os.environ.get(variable, f"http://{service}:80").rstrip("/")


NO_BATCH = target("no-batch")
BATCH_1 = target("batch-1")
BATCH_32 = target("batch-32")
BATCH_64 = target("batch-64")


class LoadTest(HttpUser):
    wait_time = constant(0)
    host = "http://localhost"

    @task
    def predict_batch_1(self):
        request_body = {"batches": [[1.0 for i in range(13)]]}
        self.client.post(f"{BATCH_1}/predict", json=request_body, name="batch-1")

    @task
    def predict_batch_32(self):
        request_body = {"batches": [[1.0 for i in range(13)] for i in range(32)]}
        self.client.post(f"{BATCH_32}/predict", json=request_body, name="batch-32")

    @task
    def predict_batch_64(self):
        request_body = {"batches": [[1.0 for i in range(13)] for i in range(64)]}
        self.client.post(f"{BATCH_64}/predict", json=request_body, name="batch-64")

    @task
    def predict_no_batch(self):
        request_body = {
            "alcohol": 1.0,
            "malic_acid": 1.0,
            "ash": 1.0,
            "alcalinity_of_ash": 1.0,
            "magnesium": 1.0,
            "total_phenols": 1.0,
            "flavanoids": 1.0,
            "nonflavanoid_phenols": 1.0,
            "proanthocyanins": 1.0,
            "color_intensity": 1.0,
            "hue": 1.0,
            "od280_od315_of_diluted_wines": 1.0,
            "proline": 1.0,
        }
        self.client.post(f"{NO_BATCH}/predict", json=request_body, name="0:batch")
