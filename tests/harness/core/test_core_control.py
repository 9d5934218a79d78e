"""Service control for outage checks: profile commands, and no control at all."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conformance.cli import target_control
from conformance.errors import HarnessError
from conformance.runtime.control import CommandControl, NoControl
from conformance.target import AtcrTarget, embedded_target


def test_commands_run_in_order(tmp_path: Path) -> None:
    flag = tmp_path / "down"
    control = CommandControl({"hold": (f"touch {flag}", f"rm {flag}")})
    assert control.can_control("hold") and not control.can_control("pds")
    control.stop("hold")
    assert flag.exists()
    control.start("hold")
    assert not flag.exists()


def test_failing_command_is_a_harness_error(tmp_path: Path) -> None:
    control = CommandControl({"hold": ("false", f"ls {tmp_path / 'nope'}")})
    with pytest.raises(HarnessError, match="exited 1"):
        control.stop("hold")
    with pytest.raises(HarnessError, match="exited 2"):
        control.start("hold")
    with pytest.raises(HarnessError, match="failed"):
        CommandControl({"hold": ("/no/such/binary", "true")}).stop("hold")


def test_target_control_from_profile() -> None:
    plain = embedded_target("http://127.0.0.1:1")
    assert isinstance(target_control(plain), NoControl)
    assert not NoControl().can_control("hold")
    with pytest.raises(HarnessError, match="no way to stop hold"):
        NoControl().stop("hold")
    with_commands = replace(plain, atcr=AtcrTarget(hold_stop="true", hold_start="true"))
    assert target_control(with_commands).can_control("hold")
