"""A wheel install, not editable, works from any directory.

The project is pip-installed (no -e, no build isolation, no index: offline) into a fresh
virtualenv whose dependencies come from this environment through a .pth file. From an
unrelated directory, `sluice check` runs on the examples the tool says it ships,
`sluice explain` on a copy of them, and `sluice serve --demo` takes the lead of the cURL
command it prints; it stops cleanly on SIGINT and SIGTERM and keeps its credentials.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("app", "grammar", "examples", "pyproject.toml", "setup.py", "README.md")

pytestmark = pytest.mark.install


def run(args: list, cwd: Path, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a command; fail the test with its output when it fails."""
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Return (venv bin folder, a working directory outside the checkout, environment)."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    for name in PROJECT:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SLUICE_") and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp, env)
    python = venv / "bin" / "python"
    site = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env
    )
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.stdout.strip()) / "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    run([*pip, source], tmp, env, timeout=300)
    shutil.rmtree(source)  # the installed copy must stand alone
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    where = run([python, "-c", "import app; print(app.__file__)"], elsewhere, env).stdout
    assert Path(where.strip()).is_relative_to(venv), where  # the wheel's app, not the checkout's
    return venv / "bin", elsewhere, env


def test_check_and_explain_the_shipped_examples(installed):
    bin_dir, elsewhere, env = installed
    path = Path(run([bin_dir / "sluice", "examples", "path"], elsewhere, env).stdout.strip())
    assert (path / "solar" / "solar.rules").is_file()
    checked = run([bin_dir / "sluice", "check", path], elsewhere, env)
    assert "0 error(s), 0 warning(s)" in checked.stdout + checked.stderr
    run([bin_dir / "sluice", "examples", "copy", "mine"], elsewhere, env)
    explained = run(
        [bin_dir / "sluice", "explain", "mine/solar", "mine/solar/lead.json"], elsewhere, env
    )
    assert "lead type: premium" in explained.stdout


class Demo:
    """`sluice serve --demo --json` on a free port, its output in files."""

    def __init__(self, bin_dir: Path, cwd: Path, env: dict, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out, self.err = cwd / f"serve-{self.port}.out", cwd / f"serve-{self.port}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(
                [bin_dir / "sluice", "serve", "--demo", "--json", "--port", str(self.port)],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
            )
        self.wait_healthy()
        self.info, _ = json.JSONDecoder().raw_decode(self.out.read_text())

    def wait_healthy(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"sluice serve exited:\n{self.err.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.process.kill()
        pytest.fail(f"sluice serve did not answer:\n{self.err.read_text()[-3000:]}")

    def stop(self, signum: int) -> int:
        """Send the signal; return the exit code."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail(f"sluice serve ignored signal {signum}")


def post_curl(command: str) -> tuple[int, dict]:
    """Send a printed cURL command (POST, headers, -d body, URL last); return status, JSON."""
    words = shlex.split(command.replace("\\\n", " "))
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    body = words[words.index("-d") + 1].encode()
    request = urllib.request.Request(words[-1], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def assert_delivered(demo: Demo, lead: str) -> None:
    """Within a second the demo's worker delivered the sold lead to the demo inbox (signature
    verified), and the lead's timeline says so."""
    deadline = time.monotonic() + 1.0
    received: list = []
    while time.monotonic() < deadline and not received:
        with urllib.request.urlopen(demo.info["inbox_url"], timeout=5) as inbox:
            received = [r for r in json.load(inbox)["received"] if r["lead"] == lead]
        time.sleep(0.05)
    assert received and received[0]["signature_verified"], f"{lead} not delivered within 1 s"
    request = urllib.request.Request(
        f"{demo.url}/api/admin/leads/{lead}",
        headers={"Authorization": f"Bearer {demo.info['admin_token']}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        kinds = [event["kind"] for event in json.load(answer)["timeline"]]
    assert "delivered" in kinds, kinds


def test_serve_demo_takes_the_printed_lead_and_stops_cleanly(installed):
    bin_dir, elsewhere, env = installed
    first = Demo(bin_dir, elsewhere, env)
    try:
        (source,) = first.info["sources"]
        status, answer = post_curl(source["curl"])
        assert (status, answer.get("status")) == (201, "assigned"), answer
        assert_delivered(first, answer["lead_public_id"])
        assert first.info["docs_url"] == first.url + "/api/docs"
        with urllib.request.urlopen(first.url + "/", timeout=5) as index:
            assert json.load(index)["links"]["docs"] == "/api/docs"
    finally:
        assert first.stop(signal.SIGINT) == 0
    assert (elsewhere / "instance" / "sluice.sqlite3").is_file()
    second = Demo(bin_dir, elsewhere, env, port=first.port)
    try:
        assert second.info["admin_token"] == first.info["admin_token"]
        status, answer = post_curl(source["curl"])  # the first run's command, again
        assert status == 201, answer
        status, answer = post_curl(second.info["sources"][0]["curl"])
        assert (status, answer.get("status")) == (201, "assigned"), answer
    finally:
        assert second.stop(signal.SIGTERM) == 0
