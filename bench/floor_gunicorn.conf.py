"""gunicorn settings for the intake floor: Sluice's own (gunicorn.conf.py), without its
hooks, which compile Sluice's rules (and would fail in the floor's workers) or build its
rules parser."""

import runpy
from pathlib import Path

_SLUICE = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
globals().update(
    {
        k: v
        for k, v in _SLUICE.items()
        if not k.startswith("_") and k not in ("post_worker_init", "when_ready")
    }
)
