"""The image's exact start command, run on the host (there is no Docker engine here):
the package installed as the image installs it (the Dockerfile's COPY sources,
`pip install .`, here into a directory of its own), the Dockerfile's
ENTRYPOINT/CMD with its ENV, a temporary data directory and free ports; then its
HEALTHCHECK command; then the compose example's app against it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from tests.dockerfile import ROOT, parse
from tests.support import free_port, may_skip_port_443, random_loopback


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The build context as the Dockerfile's COPY lines make it, installed with pip
    (not the editable checkout): package data the image would miss is missed here too."""
    image = parse()
    base = tmp_path_factory.mktemp("image")
    context, site = base / "context", base / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sources, dest in image.copies:
        target = context / os.path.relpath(dest, image.workdir)
        for source in sources:
            src = ROOT / source
            if src.is_dir():
                shutil.copytree(src, target if len(sources) == 1 and not dest.endswith("/") else target / source,
                                ignore=ignore)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, target / source)
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                             str(context)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def image_env(site: Path, overrides: dict[str, str]) -> dict[str, str]:
    """The host environment without MOCKPAY_* settings, the image's ENV, then `overrides`.
    The installed package comes first on PYTHONPATH and its `mockpay` script first on
    PATH; then the venv's bin directory, for `python` and the dependencies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKPAY_")}
    env.update(parse().env)
    env.update(overrides)
    env["PYTHONPATH"] = str(site)
    env["PATH"] = os.pathsep.join([str(site / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return env


def test_the_start_command_runs_the_installed_package(tmp_path, installed):
    env = image_env(installed, {})
    where = subprocess.run(["python", "-c", "import mockpay, mockpay.cli; print(mockpay.__file__)"], env=env,
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(installed)), where.stdout + where.stderr
    assert shutil.which(parse().start_command[0], path=env["PATH"]) == str(installed / "bin" / "mockpay")
    templates = installed / "mockpay" / "templates"
    assert sorted(p.name for p in templates.iterdir()) == sorted(p.name for p in (ROOT / "mockpay" / "templates")
                                                                 .glob("*.html"))


class Container:
    """The start command as a process group, its output in a file."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.env = env
        self.log_path = tmp_path / "container.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(parse().start_command, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=tmp_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, url: str, verify=True, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the start command exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(url, timeout=1, verify=verify).status_code == 200:
                    return
            except (requests.RequestException, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"{url} never answered:\n{self.log()}")

    def healthcheck(self) -> subprocess.CompletedProcess:
        return subprocess.run(parse().healthcheck, env=self.env, capture_output=True, text=True, timeout=30)

    def stop(self) -> int:
        """What `docker stop` does: SIGTERM to the main process, SIGKILL after a grace period."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                raise AssertionError("the start command ignored SIGTERM")
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # nothing of the group may be left behind
        except ProcessLookupError:
            pass
        self._log.close()
        return self.proc.returncode


def test_start_command_serves_health_on_both_ports(tmp_path, installed):
    token = uuid.uuid4().hex
    http_port, https_port = free_port(), free_port()
    data = tmp_path / "data"
    # Everything from the Dockerfile but where data lives, the ports, and the address:
    # 127.0.0.1 rather than the image's 0.0.0.0, so that the test opens nothing beyond loopback.
    env = image_env(installed, {"MOCKPAY_DATA_DIR": str(data), "MOCKPAY_PORT": str(http_port),
                     "MOCKPAY_HTTPS_PORT": str(https_port), "MOCKPAY_HOST": "127.0.0.1",
                     "MOCKPAY_ADMIN_TOKEN": token})
    container = Container(tmp_path, env)
    try:
        container.wait_healthy(f"http://127.0.0.1:{http_port}/_mockpay/health")
        ca = str(data / "tls" / "ca.pem")
        container.wait_healthy(f"https://127.0.0.1:{https_port}/_mockpay/health", verify=ca)
        assert requests.get(f"http://127.0.0.1:{http_port}/_mockpay/health", timeout=5).json() == {"status": "ok"}
        assert requests.get(f"http://127.0.0.1:{http_port}/_mockpay/vaults", timeout=5).status_code == 401
        assert requests.get(f"http://127.0.0.1:{http_port}/_mockpay/ca.pem", timeout=5,
                            headers={"Authorization": f"Bearer {token}"}).text == Path(ca).read_text()
        check = container.healthcheck()
        assert check.returncode == 0, check.stderr
        assert f"http://localhost:{http_port} and https://localhost:{https_port}" in container.log()
        assert str(data) in container.log()
    finally:
        code = container.stop()
    assert code == 0, container.log()
    failed = container.healthcheck()  # the same HEALTHCHECK command reports a stopped server
    assert failed.returncode == 1 and "unhealthy" in failed.stderr


def test_image_defaults_without_a_token_refuse_to_start(tmp_path, installed):
    env = image_env(installed, {"MOCKPAY_DATA_DIR": str(tmp_path / "data"), "MOCKPAY_PORT": str(free_port())})
    assert env["MOCKPAY_HOST"] == "0.0.0.0"
    result = subprocess.run(parse().start_command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0" in result.stderr and "MOCKPAY_ADMIN_TOKEN" in result.stderr


def test_compose_app_vaults_through_the_sdk(tmp_path, installed):
    """compose.yaml's mockpay environment on the image's start command, and the
    example app with compose's app environment, the host name `mockpay` replaced
    by a loopback address of its own (the SDK needs port 443 there)."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    host, http_port, token = random_loopback(), free_port(), uuid.uuid4().hex

    def resolve(value: str) -> str:
        value = value.replace("${MOCKPAY_ADMIN_TOKEN:?set MOCKPAY_ADMIN_TOKEN to any secret}", token)
        return value.replace("//mockpay:8080", f"//{host}:{http_port}").replace("//mockpay", f"//{host}")

    mock_env = {k: resolve(str(v)) for k, v in compose["services"]["mockpay"]["environment"].items()}
    mock_env["MOCKPAY_TLS_HOSTS"] = mock_env["MOCKPAY_TLS_HOSTS"].replace("mockpay", host)
    mock_env.update({"MOCKPAY_DATA_DIR": str(tmp_path / "data"), "MOCKPAY_HOST": host,
                     "MOCKPAY_PORT": str(http_port), "MOCKPAY_WORKERS": "1"})
    container = Container(tmp_path, image_env(installed, mock_env))
    try:
        ca = str(tmp_path / "data" / "tls" / "ca.pem")
        try:
            container.wait_healthy(f"http://{host}:{http_port}/_mockpay/health")
            # the HTTPS listener is an arbiter of its own: a refused bind shows here, after HTTP is up
            container.wait_healthy(f"https://{host}/_mockpay/health", verify=ca)
        except AssertionError as exc:
            # gunicorn's own line for the one failure that is the host's, not mockpay's
            if may_skip_port_443(str(exc), host):
                pytest.skip(f"cannot bind {host}:443 here (not root?)")
            raise
        app_env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCKPAY_", "SSL_CERT"))}
        app_env.update({k: resolve(str(v)) for k, v in compose["services"]["app"]["environment"].items()})
        app_env["TMPDIR"] = str(tmp_path)  # a /tmp of its own, as the app's container has
        result = subprocess.run([sys.executable, str(ROOT / "examples" / "compose_app.py")], env=app_env,
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr + container.log()
        out = json.loads(result.stdout.strip().splitlines()[-1])
        assert out == {"vaultingRequestId": out["vaultingRequestId"], "vault": "SUCCESS",
                       "vaultingStatus": "SUCCESS", "maskedCardNo": "************0768"}
        journal = requests.get(f"http://{host}:{http_port}/_mockpay/requests", timeout=5,
                               params={"vaultingRequestId": out["vaultingRequestId"]},
                               headers={"Authorization": f"Bearer {token}"}).json()["requests"]
        assert [e["path"] for e in journal] == ["/ams/sandbox/api/v1/vaults/inquireVaulting",
                                                "/ams/sandbox/api/v1/vaults/vaultPaymentMethod"]
        assert "4054695723100768" not in container.log()
    finally:
        container.stop()
