"""The diagnostic bench scripts still run against today's code (figures are not checked here:
speed lives in bench/ and the README)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cpu_breakdown_runs_every_row_with_successful_vaults():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cpu_breakdown.py"), "--requests", "10",
                          "--warmup", "2", "--runs", "1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ceiling (sign only)")
    assert lines[1].startswith("ceiling + 1 SQLite tx")
    names = [line[:22].strip() for line in lines[2:]]
    assert names == ["as served", "- journal", "- log line", "- validation", "- outbox", "- signature check"]
    assert all("stateful ceiling" in line for line in lines[2:])
