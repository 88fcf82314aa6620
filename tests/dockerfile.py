"""A small Dockerfile reader for the tests: the instructions the image's start
command depends on (COPY, WORKDIR, ENV, ENTRYPOINT, CMD, HEALTHCHECK, EXPOSE,
USER, VOLUME)."""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Image:
    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    expose: list[int] = field(default_factory=list)
    user: str = "root"
    volumes: list[str] = field(default_factory=list)
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination in the image)

    @property
    def start_command(self) -> list[str]:
        return self.entrypoint + self.cmd


def _instructions(text: str) -> list[tuple[str, str]]:
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        current = ""
    return out


def _exec_form(value: str) -> list[str]:
    if not value.startswith("["):
        raise AssertionError(f"use the exec (JSON) form, not the shell form: {value}")
    return json.loads(value)


def parse(path: Path = DOCKERFILE) -> Image:
    image = Image()
    for keyword, rest in _instructions(path.read_text()):
        if keyword == "FROM":
            image.base = rest.split()[0]
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                key, sep, value = pair.partition("=")
                if not sep:
                    raise AssertionError(f"ENV without '=': {rest}")
                image.env[key] = value
        elif keyword == "ENTRYPOINT":
            image.entrypoint = _exec_form(rest)
        elif keyword == "CMD":
            image.cmd = _exec_form(rest)
        elif keyword == "HEALTHCHECK":
            _, _, command = rest.partition("CMD ")
            image.healthcheck = _exec_form(command.strip())
        elif keyword == "EXPOSE":
            image.expose += [int(p.split("/")[0]) for p in rest.split()]
        elif keyword == "USER":
            image.user = rest
        elif keyword == "WORKDIR":
            image.workdir = rest
        elif keyword == "COPY":
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            dest = parts[-1] if parts[-1].startswith("/") else image.workdir.rstrip("/") + "/" + parts[-1]
            image.copies.append((parts[:-1], dest))
        elif keyword == "VOLUME":
            image.volumes += json.loads(rest) if rest.startswith("[") else rest.split()
    return image
