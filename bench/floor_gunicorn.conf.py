"""gunicorn settings for the intake floor: Sluice's own (gunicorn.conf.py), without its
worker hook, which compiles Sluice's rules and would fail in the floor's workers."""

import runpy
from pathlib import Path

_SLUICE = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
globals().update(
    {k: v for k, v in _SLUICE.items() if not k.startswith("_") and k != "post_worker_init"}
)
