"""The lab's load test on Locust's faster client: FastHttpUser (geventhttpclient)
instead of HttpUser (python-requests), which costs Locust several times less CPU
per request.

The four tasks, their request names and bodies are locustfile.py's own functions,
imported rather than copied, so the two files cannot drift apart: only the client
differs. Locust puts a locustfile's folder on sys.path while loading it, so
`import locustfile` finds the one beside this file, and only the User classes
defined here are run (locustfile.LoadTest is not).

    wine-lab --client fast                            # the main job
    locust -f locustfile_fast.py                      # Locust itself, beside locustfile.py
"""

from locust import FastHttpUser

import locustfile as lab


class FastLoadTest(FastHttpUser):
    tasks = lab.LoadTest.tasks
    wait_time = lab.LoadTest.wait_time
    host = lab.LoadTest.host
