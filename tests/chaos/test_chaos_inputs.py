"""Broken env files, account ids and lesson files are refused clearly (real CLI processes)."""

from __future__ import annotations

import pytest

from stockbot.chaos import inputs


@pytest.fixture(scope="module")
def env_rows(tmp_path_factory):
    return {r["case"]: r for r in inputs.env_file_cases(tmp_path_factory.mktemp("envcases"))}


@pytest.mark.parametrize("case", [c for c, _, _ in inputs.ENV_CASES])
def test_bad_env_file_is_refused_with_exit_2_naming_file_and_setting(env_rows, case):
    # includes a file that is not UTF-8 and a directory in its place (tracebacks until 5a00fb6)
    row = env_rows[case]
    assert row["ok"], row
    assert row["exit_code"] == 2 and row["problems"] == []


def test_bad_account_ids_are_refused_and_create_nothing(tmp_path):
    rows = inputs.account_id_cases(tmp_path)
    assert len(rows) == len(inputs.BAD_IDS) + 3  # run for every id, status for three; no "files created" row
    assert [r for r in rows if not r["ok"]] == []
    assert all("invalid account id" in r["message"] or "expected one argument" in r["message"] for r in rows)


def test_corrupt_lesson_files_are_named_and_the_rest_load(tmp_path):
    rows = inputs.lesson_file_cases(tmp_path) + [inputs.lessons_cli_case(tmp_path)]
    assert [r for r in rows if not r["ok"]] == []
    assert len(rows) == len(inputs.LESSON_CASES) + 1
