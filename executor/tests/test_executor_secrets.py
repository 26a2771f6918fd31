"""Secrets in an ExecuteRequest, through the real server and both sandbox backends."""

from __future__ import annotations

import json

import grpc
import pytest

from executor.tests.executor_testkit import NSJAIL_ONLY, execute, request, status_of, write_script

VALUE = "Hv7Qp2Lx9Kd4Ws1Zm8Tb"
_ENV = "import json, os\nprint(json.dumps({k: v for k, v in os.environ.items()}))\n"


async def test_secrets_arrive_as_their_variables_only(stub, skill_dir):
    """Each granted secret is NEXFLOW_SECRET_<NAME> in the sandbox, with its value, and the
    environment holds nothing else that was not there without secrets."""
    entry = write_script(skill_dir, "env.py", _ENV)
    secrets = {"github_token": VALUE, "smtp_password": "other-value"}
    with_secrets = json.loads(
        (await execute(stub, request(skill_dir, entry, secrets=secrets))).stdout
    )
    without = json.loads((await execute(stub, request(skill_dir, entry))).stdout)
    added = set(with_secrets) - set(without)
    assert added == {"NEXFLOW_SECRET_GITHUB_TOKEN", "NEXFLOW_SECRET_SMTP_PASSWORD"}
    assert with_secrets["NEXFLOW_SECRET_GITHUB_TOKEN"] == VALUE
    assert with_secrets["NEXFLOW_SECRET_SMTP_PASSWORD"] == "other-value"


@NSJAIL_ONLY
@pytest.mark.parametrize(
    ("secrets", "field"),
    [
        ({"GitHub": VALUE}, "secrets['GitHub']"),
        ({"1token": VALUE}, "secrets['1token']"),
        ({"ok_name": VALUE + "\x00"}, "secrets['ok_name']"),
        ({"big": "x" * (64 * 1024 + 1)}, "secrets['big']"),
        ({f"s{i}": VALUE for i in range(33)}, "secrets"),
    ],
    ids=["upper-case", "leading-digit", "nul", "too-long", "too-many"],
)
async def test_bad_secrets_are_refused_without_their_value(stub, skill_dir, secrets, field):
    """A bad name, a NUL, an oversized value or too many secrets: INVALID_ARGUMENT naming
    the field, and the value appears nowhere in the error."""
    entry = write_script(skill_dir, "run.py", "print('ran')\n")
    error = await status_of(execute(stub, request(skill_dir, entry, secrets=secrets)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (error.details() or "")
    assert VALUE not in (error.details() or "") and "xxxxxxxx" not in (error.details() or "")


@NSJAIL_ONLY
async def test_env_cannot_forge_a_secret_variable(stub, skill_dir):
    """`env` may not set NEXFLOW_SECRET_* (the NEXFLOW_ prefix is reserved)."""
    entry = write_script(skill_dir, "run.py", "print('ran')\n")
    req = request(skill_dir, entry, env={"NEXFLOW_SECRET_GITHUB_TOKEN": VALUE})
    error = await status_of(execute(stub, req))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
