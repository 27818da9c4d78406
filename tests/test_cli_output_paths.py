"""Output-path errors of `blueprint preview`: one line, no traceback, usage errors exit 2, failures exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from blueprint.cli import EXIT_ERROR, EXIT_USAGE, main
from blueprint.preview import command
from blueprint.preview.plan import Plan
from tests.conftest import plan_for


@pytest.fixture(autouse=True)
def _cached_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's plans instead of fresh previews: these tests are about what happens after."""

    def plans(stacks: list[str], *, policy: bool) -> list[tuple[str, Plan | str]]:
        return [(s, plan_for(s)) for s in stacks]

    monkeypatch.setattr(command, "_plans", plans)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert "\n" not in err, err
    return code, err


def test_json_to_an_existing_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["preview", "dev", "-q", "--json", str(tmp_path)], capsys)
    assert code == EXIT_USAGE
    assert "is a directory; give a file path" in err


def test_all_json_to_an_existing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "plan.json"
    target.write_text("{}")
    code, err = _run(["preview", "--all", "-q", "--json", str(target)], capsys)
    assert code == EXIT_USAGE
    assert "needs a directory" in err


def test_json_to_a_full_device_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    code, err = _run(["preview", "dev", "-q", "--json", "/dev/full"], capsys)
    assert code == EXIT_ERROR
    assert err == "error: cannot write /dev/full: No space left on device"


def test_render_k8s_into_proc_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["preview", "dev", "-q", "--render-k8s", "/proc/nope"], capsys)
    assert code in (EXIT_ERROR, EXIT_USAGE)
    assert "/proc" in err


def test_render_k8s_onto_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "f"
    f.write_text("")
    code, err = _run(["preview", "dev", "-q", "--render-k8s", str(f)], capsys)
    assert code == EXIT_USAGE
    assert "is a file; give a directory" in err


def test_json_under_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "f"
    f.write_text("")
    code, err = _run(["preview", "dev", "-q", "--json", str(f / "plan.json")], capsys)
    assert code == EXIT_USAGE
    assert "is not a writable directory" in err


def test_unexpected_errors_in_any_command_are_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(stacks: list[str], *, policy: bool) -> list[tuple[str, Plan | str]]:
        raise RuntimeError("line one\nline two")

    monkeypatch.setattr(command, "_plans", boom)
    code, err = _run(["preview", "dev", "-q"], capsys)
    assert code == EXIT_ERROR
    assert err.startswith("error: RuntimeError: line one line two")


def test_json_to_a_new_nested_path_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a" / "b" / "dev.json"
    assert main(["preview", "dev", "-q", "--json", str(target)]) == 0
    assert target.read_text().startswith("{")
