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
# Import the app once, in the master: a worker is forked with it loaded, so starting one
# (at boot, or after max_requests) costs a fork and the rules warm-up below instead of about
# a second of imports during which its queued requests wait. Creating the app opens no
# connection and starts no thread. The price: `kill -HUP` restarts the workers on the code
# the master loaded; deploy new code by restarting the master (or USR2 + QUIT).
preload_app = True
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


def when_ready(server):
    """Build the rules parser in the master, before it forks the workers (preload_app): every
    worker, at boot or after max_requests, then starts with it instead of spending half a
    second of CPU building its own in its warm-up."""
    from app.delivery.partners import warm_up as warm_up_partner_calls
    from app.dsl.parser import get_parser

    get_parser()
    warm_up_partner_calls()  # a ping stage's first fan-out would lose ~100 ms to it
