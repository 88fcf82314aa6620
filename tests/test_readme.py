import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", setup)


def test_readme_opens_with_two_setup_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "mockpay serve" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


# -- the README's concrete claims, read from the README and checked against the code --

def readme() -> str:
    return (ROOT / "README.md").read_text()


def readme_section(title: str) -> str:
    text = readme()
    assert f"\n## {title}\n" in text, f"README has no section {title!r}"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_every_mockpay_variable_the_readme_names_is_a_setting():
    """MOCKPAY_<NAME> is read for the Config field <name> only: a variable the README
    names that is no field would be silently ignored."""
    import dataclasses

    from mockpay.config import Config
    fields = {f.name for f in dataclasses.fields(Config)}
    named = set(re.findall(r"MOCKPAY_([A-Z][A-Z_]*[A-Z])", readme()))
    assert len(named) > 15
    assert {n for n in named if n.lower() not in fields} == set()


def test_the_notification_settings_table_gives_the_real_defaults():
    from mockpay.config import load_config
    config = load_config(environ={})
    rows = re.findall(r"^\| `MOCKPAY_([A-Z_]+)` \| `([^`]*)` \|", readme_section("Notifications (notifyVaulting)"), re.M)
    assert len(rows) == 6
    for name, default in rows:
        value = getattr(config, name.lower())
        if isinstance(value, bool):
            shown = str(value).lower()
        elif isinstance(value, tuple):
            shown = ",".join(str(v) for v in value)
        else:
            shown = f"{value:g}"
        assert shown == default, f"MOCKPAY_{name}: README says {default}, the default is {shown}"


def readme_command_lines() -> list[str]:
    """Every `mockpay ...` command line of the README, from code blocks and inline code."""
    text = readme()
    lines = []
    for block in re.findall(r"```sh\n(.+?)\n```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].split(" >", 1)[0].split("&&")[-1].strip()
            if line.startswith(("mockpay ", ".venv/bin/mockpay ")):
                lines.append(line)
    lines += re.findall(r"`(mockpay [a-z-][^`]*)`", text)
    return lines


def test_every_mockpay_command_and_flag_in_the_readme_exists():
    import click

    from mockpay.cli import main
    lines = readme_command_lines()
    assert len(lines) > 20
    for line in lines:
        words = line.replace("[", " ").replace("]", " ").split()[1:]
        command, root_flags = main, {p for o in main.params for p in o.opts}
        for word in words:
            if word.startswith("-") or not isinstance(command, click.Group):
                continue
            if word in command.commands:
                command = command.commands[word]
            elif "|" in word:  # `mockpay vaults list|show`
                assert all(w in command.commands for w in word.split("|")), line
        if isinstance(command, click.Group):  # `mockpay vaults`: a group, named as such
            assert not any(w.startswith("-") for w in words), f"{line!r} names no command"
            continue
        flags = {p for o in command.params for p in o.opts} | root_flags
        for word in words:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in flags, f"{line!r}: {command.name} has no {word}"


def test_every_admin_endpoint_the_readme_names_exists_with_its_method(tmp_path):
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from mockpay import create_app
    from mockpay.config import load_config
    app = create_app(load_config({"data_dir": tmp_path, "dispatcher": False}, environ={}))
    adapter = app.url_map.bind("localhost")
    found = set()
    for methods, path in re.findall(r"`((?:GET|POST|PUT|DELETE|PATCH)(?:\|(?:GET|POST|PUT|DELETE|PATCH))*) "
                                    r"(/_mockpay/[^` ?\[]*(?:\[/<id>\])?)", readme()):
        for variant in ([path.replace("[/<id>]", ""), path.replace("[/<id>]", "/<id>")] if "[" in path else [path]):
            concrete = re.sub(r"<[^>]+>", "1", variant)
            for method in methods.split("|"):
                try:
                    adapter.match(concrete, method=method)
                except (NotFound, MethodNotAllowed):
                    raise AssertionError(f"README names {method} {variant}, which the server does not serve")
                found.add((method, variant))
    assert len(found) > 20


def test_the_performance_sections_bench_commands_exist_and_their_flags_parse():
    import subprocess
    import sys
    commands = re.findall(r"`python (bench/[a-z_]+\.py)((?: --[a-z-]+(?: \d+)?)*)`", readme())
    scripts = {script for script, _ in commands}
    assert scripts >= {"bench/vault_bench.py", "bench/cpu_breakdown.py", "bench/memory.py",
                       "bench/fixture_start.py", "bench/notify_throughput.py"}
    flags = {script: set() for script in scripts}
    for script, args in commands:
        flags[script] |= set(re.findall(r"--[a-z-]+", args))
    flags["bench/vault_bench.py"].add("--threads")  # "The same API-path run with `--threads 1`"
    for script, wanted in flags.items():
        out = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True,
                             timeout=120, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-2000:]
        for flag in wanted:
            assert re.search(rf"\s{flag}\b", out.stdout), f"{script} takes no {flag}"


def test_the_readme_gives_the_default_data_directory(monkeypatch):
    from mockpay.config import default_data_dir
    text = readme_section("Data directory")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/merchant")
    assert "default\n`~/.local/share/mockpay`" in text
    assert str(default_data_dir()) == "/home/merchant/.local/share/mockpay"
    monkeypatch.setenv("XDG_DATA_HOME", "/srv/xdg")
    assert "`$XDG_DATA_HOME/mockpay` when that is set" in text
    assert str(default_data_dir()) == "/srv/xdg/mockpay"


def test_every_file_of_the_repository_the_readme_names_exists():
    path = r"(?<![\w/.])((?:tests|bench|examples|mockpay|scenarios)/[\w./-]+\.(?:py|yaml))(?!:\d)"  # :12: a message
    named = set(re.findall(path, readme()))
    named |= {name for name in ("Dockerfile", "compose.yaml", ".ci/run") if f"`{name}`" in readme()}
    assert len(named) > 10
    assert sorted(n for n in named if not (ROOT / n).is_file()) == []
