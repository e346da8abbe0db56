"""wine-lab's addition to the locustfile of a sweep step (HOOK in files.rs).

1. Once Locust has stopped, write its --csv statistics one last time. Locust
   2.47 rewrites <prefix>_stats.csv and <prefix>_failures.csv every second from
   a background greenlet and does not write them again at exit (locust/main.py
   shutdown() only closes the files; stats.py StatsCSVFileWriter.stats_writer),
   so a step's file missed its last second of requests. The quit event fires
   after the users have stopped, so these are the numbers Locust prints in its
   summary. The background writer's buffer is empty here: each of its rewrites
   ends with truncate(), which flushes, and it yields only while sleeping.

2. Bring gevent's clock up to date before the --run-time timer is set
   (main.py spawn_run_time_quit_greenlet: gevent.spawn_later). Timers count
   from the event loop's cached time, which has not moved since the loop last
   ran; when starting Locust took longer than --run-time (seen with 2 s steps
   on a loaded 2-core machine), the step ended 50 ms after it began, with no
   requests.

3. In distributed mode (wine-lab --workers, Locust's --processes), make each
   worker die with its master. The master gets a parent-death signal from
   wine-lab, but Linux clears that setting on fork (prctl(2)), so when wine-lab
   was killed (SIGKILL) the master's SIGTERM ended the master alone and its
   workers ran on, orphaned, until Locust's 60 s heartbeat timeout
   (runners.py MASTER_HEARTBEAT_TIMEOUT). The workers are forks of the master
   (main.py: gevent.fork), made after the locustfiles were imported, so this
   module registers a fork hook that sets the signal in each worker at once:
   not at its init event, which comes only once it reached the master
   (it retries for minutes when the master is gone). A worker whose parent is
   no longer the process that imported this module was orphaned before it
   could ask, and exits.

Loaded in the web mode too, where only point 3 does something.
"""

import csv
import ctypes
import os
import signal

import gevent
from locust import events
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

_PR_SET_PDEATHSIG = 1

# The master: Locust imports the locustfiles (and this hook) before it forks.
_MASTER_PID = os.getpid()

_environment = None


@events.init.add_listener
def _remember(environment, **_kwargs):
    global _environment
    _environment = environment
    # Point 2 of the docstring: --run-time counts from now, not from the
    # loop's last run.
    gevent.get_hub().loop.update_now()


def _die_with_master():
    """Point 3 of the docstring."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != _MASTER_PID:
        os._exit(1)


os.register_at_fork(after_in_child=_die_with_master)


@events.quit.add_listener
def _write_final_stats(**_kwargs):
    prefix = _environment and _environment.parsed_options.csv_prefix
    if not prefix:
        return
    stats = StatsCSV(_environment, PERCENTILES_TO_REPORT)
    with open(prefix + "_stats.csv", "w", newline="") as file:
        stats.requests_csv(csv.writer(file))
    with open(prefix + "_failures.csv", "w", newline="") as file:
        stats.failures_csv(csv.writer(file))
