"""Definitions: the built-in ones validate; a broken one is refused with a message that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from api.cli import app as cli
from api.settings import REPO_ROOT
from api.workflows import catalog

BASE = {"name": "broken", "title": "Broken", "inputs": {"username": {}}, "ticket": {"title": "x"},
        "handoff_team": "identity"}


def _write(tmp_path: Path, steps: list[dict]) -> Path:
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(BASE | {"steps": steps}))
    return path


def _problem(tmp_path: Path, steps: list[dict]) -> str:
    with pytest.raises(catalog.DefinitionError) as caught:
        catalog.parse(_write(tmp_path, steps))
    return caught.value.detail


def test_the_built_in_workflows_validate():
    names = {item.workflow.name for item in catalog.load_dir(REPO_ROOT / "data" / "workflows")}
    assert {"account_unlock", "password_reset", "access_request"} <= names


def test_an_unknown_step_kind_is_named_with_the_kinds_there_are(tmp_path):
    detail = _problem(tmp_path, [{"id": "run", "kind": "shell", "command": "rm -rf /"}])
    assert detail.startswith("broken.yml: steps.0")
    assert "'shell'" in detail and "'directory'" in detail and "'condition'" in detail


def test_an_unknown_directory_operation_lists_the_known_ones(tmp_path):
    detail = _problem(tmp_path, [{"id": "wipe", "kind": "directory", "operation": "delete_user",
                                  "args": {"user": "$inputs.username"}}])
    assert "step 'wipe': unknown directory operation 'delete_user'; known: add_to_group" in detail


def test_wrong_arguments_of_an_operation_are_named(tmp_path):
    detail = _problem(tmp_path, [{"id": "unlock", "kind": "directory", "operation": "unlock",
                                  "args": {"who": "$inputs.username"}}])
    assert "takes user; missing user; unknown who" in detail


def test_a_missing_branch_target_is_refused(tmp_path):
    detail = _problem(tmp_path, [
        {"id": "find", "kind": "directory", "operation": "find_user", "args": {"username": "$inputs.username"}},
        {"id": "known", "kind": "condition", "value": "$steps.find", "test": "not_null", "then": "unlock",
         "else": "handoff"}])
    assert "step 'known': branch target 'unlock' is not a later step, 'end' or 'handoff'" in detail


def test_references_must_name_declared_inputs_and_earlier_steps(tmp_path):
    detail = _problem(tmp_path, [
        {"id": "find", "kind": "directory", "operation": "find_user", "args": {"username": "$inputs.login"}},
        {"id": "unlock", "kind": "directory", "operation": "unlock", "args": {"user": "$steps.later"}}])
    assert "reference to undeclared input 'login'" in detail
    assert "reference to 'later', which is not an earlier step" in detail


def test_a_ticket_is_resolved_only_after_a_verify_step(tmp_path):
    detail = _problem(tmp_path, [{"id": "done", "kind": "ticket", "action": "resolve"}])
    assert "a ticket is resolved only after a verify step" in detail


def test_code_steps_name_registered_functions_only(tmp_path):
    detail = _problem(tmp_path, [{"id": "x", "kind": "code", "function": "os.system"}])
    assert "unknown code function 'os.system'; registered: normalise_username" in detail


def test_approval_wait_and_http_steps_are_checked_too(tmp_path):
    detail = _problem(tmp_path, [
        {"id": "ok", "kind": "approval", "approver": "team", "timeout_s": 60},
        {"id": "pause", "kind": "wait"},
        {"id": "call", "kind": "http", "endpoint": "hr", "method": "TRACE"}])
    assert "give role with approver: role, team with approver: team" in detail
    assert "give exactly one of seconds and until" in detail
    assert "steps.2.http.method" in detail


def test_the_cli_validates_and_fails_with_every_problem(tmp_path):
    runner = CliRunner()
    good = runner.invoke(cli, ["workflows", "validate", "--dir", str(REPO_ROOT / "data" / "workflows")])
    assert good.exit_code == 0 and "account_unlock.yml: account_unlock ok" in good.output
    _write(tmp_path, [{"id": "run", "kind": "shell"}])
    bad = runner.invoke(cli, ["workflows", "validate", "--dir", str(tmp_path)])
    assert bad.exit_code == 1 and "broken.yml" in bad.output and "shell" in bad.output
