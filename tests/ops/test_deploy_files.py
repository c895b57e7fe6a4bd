"""The files in deploy/ run commands kehu has, with options it accepts, and agree with each other."""

import re
import shlex
from pathlib import Path

import pytest
from django.core.management import load_command_class
from django.core.management.base import CommandError

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def exec_lines(unit: Path) -> list[list[str]]:
    return [shlex.split(line.split("=", 1)[1]) for line in unit.read_text().splitlines()
            if line.startswith("ExecStart=")]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_every_unit_runs_a_kehu_command_that_accepts_its_options(unit):
    from django.core.management import get_commands

    lines = exec_lines(unit)
    assert lines, f"{unit.name} starts nothing"
    for argv in lines:
        assert argv[0] == "/srv/kehu/.venv/bin/kehu"
        name, args = argv[1], [a.replace("%i", "8001") for a in argv[2:]]
        command = load_command_class(get_commands()[name], name)
        try:
            command.create_parser("kehu", name).parse_args(args)
        except (CommandError, SystemExit) as exc:
            raise AssertionError(f"{unit.name}: kehu {name} refuses {args}") from exc
        assert "EnvironmentFile=/etc/kehu/kehu.env" in unit.read_text()


def test_the_app_processes_leave_jobs_to_the_worker_and_the_proxies_know_their_ports():
    web = (DEPLOY / "systemd" / "kehu-web@.service").read_text()
    assert "--no-worker" in web and "--host 127.0.0.1" in web
    assert exec_lines(DEPLOY / "systemd" / "kehu-worker.service") == [["/srv/kehu/.venv/bin/kehu", "worker"]]
    ports = {"8001", "8002"}
    assert set(re.findall(r"127\.0\.0\.1:(\d+)", (DEPLOY / "Caddyfile").read_text())) == ports
    assert set(re.findall(r"server 127\.0\.0\.1:(\d+)", (DEPLOY / "nginx.conf").read_text())) == ports
    readme = (DEPLOY.parent / "README.md").read_text()
    assert "kehu-web@8001 kehu-web@8002" in readme
    env = dict(line.split("=", 1) for line in (DEPLOY / "kehu.env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert env["KEHU_DATABASE_URL"].startswith("postgres://") and env["KEHU_BEHIND_PROXY"] == "1"
