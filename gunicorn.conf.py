"""gunicorn for jiayi: `make serve`, or `gunicorn -c gunicorn.conf.py` (serves wsgi:app).

gthread workers: 4 processes with 8 threads each answer 32 requests at once. A WeChat login waiting on
a slow upstream (up to HTTP_TIMEOUT_SECONDS, the whole call's deadline) holds one thread, not a whole
process: with sync workers 4 hanging logins would stall every other request. Threads suit this app:
it waits on PostgreSQL and outbound HTTP, and each thread has its own session (core/db.py).

Override per deployment on the command line or in GUNICORN_CMD_ARGS, e.g.
`GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000 --workers 8"`. Run exactly one scheduler beside it:
`flask --app wsgi scheduler run` (README, "Deploying").
"""

import glob
import os
import tempfile

# Every worker writes its metrics here and any one answers /metrics for all (core/observability.py).
# Set before anything imports prometheus_client, which reads it once.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="jiayi-metrics-")

wsgi_app = "wsgi:app"
bind = ["127.0.0.1:8000"]  # behind nginx on the same host; set TRUSTED_PROXY_HOPS=1 there
worker_class = "gthread"
workers = 4
threads = 8
# A gthread worker otherwise accepts up to 1000 connections and queues them behind its threads, even
# when all 8 wait on WeChat and other workers are idle. Taking no more than it has threads leaves the
# rest in the listen backlog for any worker with a free thread. nginx speaks to us without keep-alive.
worker_connections = threads
keepalive = 0
timeout = 30  # a worker that has not checked in for 30 s is restarted
graceful_timeout = 30
# Recycle workers now and then (spread out) so slow growth in one never becomes an outage.
max_requests = 5000
max_requests_jitter = 500
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The app logs one JSON line per request (route template, status, duration, request id), never the query
# string, which may hold an ID number; gunicorn's access log would, so it stays off.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.observability.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False}},
}


def on_starting(server):
    """Check the configuration once, in the master: a bad one ends gunicorn with the list of problems
    (core/config.py) instead of workers failing to boot over and over. Drop a previous run's metrics."""
    from core.config import Settings

    Settings()
    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)


def post_worker_init(worker):
    worker.log.info("worker %s ready", worker.pid)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
