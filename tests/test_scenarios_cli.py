"""`mockpay scenarios validate|list`, `mockpay serve --scenarios`, the example files and packaging."""
from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from mockpay import scenarios as sc
from mockpay.cli import main
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
GOOD = "rules:\n  - description: all Visa declined\n    match: {bin: \"4\"}\n" \
       "    outcome: {resultCode: VERIFICATION_FAIL, reason: DO_NOT_HONOR}\n"
BAD = "rules:\n  - name: oops\n    match: {cardNo: \"4054695723100768\"}\n" \
      "    outcome: {resultCode: SUCCESS, urls: [normalUrl]}\n"


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_reports_each_file(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(BAD)
    result = run("scenarios", "validate", str(tmp_path / "good.yaml"), str(tmp_path / "bad.yaml"))
    assert result.exit_code == 1
    assert f"ok: {tmp_path / 'good.yaml'}: 1 rule(s)" in result.stdout
    assert result.stderr.strip() == (f'{tmp_path / "bad.yaml"}:4: rule 1 "oops": outcome.urls: urls is only for '
                                     "VERIFICATION_IN_PROCESS outcomes (resultStatus U), not SUCCESS")


def test_validate_without_a_path_checks_the_built_in_catalogue():
    result = run("scenarios", "validate")
    assert result.exit_code == 0
    assert f"ok: {sc.BUILTIN_PATH}: {len(sc.builtin().rules)} rule(s)" in result.stdout


def test_the_example_folder_is_valid():
    result = run("scenarios", "validate", str(ROOT / "scenarios"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("ok: ") == len(list((ROOT / "scenarios").glob("*.yaml"))) >= 3


def test_serve_refuses_an_invalid_file_with_the_validate_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    validate = run("scenarios", "validate", str(bad))
    served = subprocess.run([sys.executable, "-m", "mockpay.cli", "--data-dir", str(tmp_path / "data"), "serve",
                             "--port", str(free_port()), "--scenarios", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 1
    assert served.stderr.strip() == "Error: " + validate.stderr.strip()
    assert "listening" not in served.stdout


def test_list_prints_a_table_with_files_first(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    result = run("scenarios", "list", "--scenarios", str(tmp_path / "good.yaml"))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MATCH", "API", "OUTCOME", "DESCRIPTION"]
    assert lines[1].split()[:2] == ["BIN", "4*"] and lines[1].endswith("all Visa declined")
    assert any(line.startswith("card 4054692760174822") and "F VERIFICATION_FAIL (DO_NOT_HONOR)" in line
               for line in lines)
    assert lines[-1] == "anything else: S SUCCESS"


def test_list_json():
    result = run("scenarios", "list", "--json")
    listing = json.loads(result.stdout)
    assert listing["sources"] == [sc.BUILTIN_LABEL]
    assert len(listing["rules"]) == len(sc.builtin().rules)
    assert listing["rules"][0]["cards"] == ["4054692760174822"]


def test_list_with_a_client_reads_its_set_from_the_data_directory(tmp_path):
    data = tmp_path / "data"
    assert run("--data-dir", str(data), "clients", "add", "JOB_1", "--generate", "--json").exit_code == 0
    from mockpay import build_services, load_config
    svc = build_services(load_config({"data_dir": data}))
    svc.scenarios.put_client_set("JOB_1", GOOD, svc.clock.now())
    svc.store.close()
    listing = json.loads(run("--data-dir", str(data), "scenarios", "list", "--client", "JOB_1", "--json").stdout)
    assert listing["sources"][0] == "clients/JOB_1"
    assert listing["rules"][0]["description"] == "all Visa declined"


def test_package_data_covers_the_catalogue_and_templates():
    """What a non-editable install must carry (pyproject's package-data patterns)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mockpay"]
    package = ROOT / "mockpay"
    needed = [package / "default_scenarios.yaml", *sorted((package / "templates").glob("challenge*.html"))]
    assert len(needed) >= 4
    for path in needed:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative
