"""gunicorn settings for `gunicorn wsgi:app`; each can be overridden by its environment variable."""

import os

bind = os.environ.get("SLUICE_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("SLUICE_WORKERS", "4"))
worker_class = "sync"
timeout = int(os.environ.get("SLUICE_WORKER_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Restart workers now and then so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# The app logs one JSON line per request (with its request id); gunicorn's access log
# would only repeat it, so it is off. Errors still go to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("SLUICE_LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("SLUICE_FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Compile the tenants' active rules before the worker takes its first request (a new
    worker, at boot or after max_requests, would otherwise answer its first leads late)."""
    from app.store.rules import warm_up

    with worker.wsgi.app_context():
        warm_up()
