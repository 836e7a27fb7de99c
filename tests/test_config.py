"""Config files: defaults, and errors that name the file, line or config path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from scanner.config import Config
from scanner.configfile import load_config, parse_config
from scanner.core.errors import ConfigError


def test_defaults_carry_the_gemini_timeline() -> None:
    config = Config()
    dates = {e.id: (e.date, e.status) for e in config.timeline}
    assert dates == {
        "dormant-unrestricted-keys-blocked": (date(2026, 5, 7), "enforced"),
        "unrestricted-standard-keys-rejected": (date(2026, 6, 19), "enforced"),
        "standard-keys-rejected": (date(2026, 9, 1), "announced"),
    }
    assert config.rules.dormancy_days == 90 and config.rules.rotation_days == 90
    assert config.rules.warn_days == 30


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load_config(path) == Config()


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("rules:\n  rotation_days: 30\n")
    monkeypatch.setenv("KEYSENTRY_CONFIG", str(path))
    assert load_config(None).rules.rotation_days == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  rotation_days: -1\n", "c.yaml: rules.rotation_days: Input should be greater"),
        (
            "rules:\n  rotaton_days: 5\n",
            "c.yaml: rules.rotaton_days: Extra inputs are not permitted",
        ),
        (
            "timeline:\n  - id: x\n    date: someday\n    rules: [key-not-rotated]\n"
            "    effect: e\n    status: enforced\n",
            "c.yaml: timeline[0].date: Input should be a valid",
        ),
        (
            "timeline:\n  - id: x\n    date: 2027-01-01\n    rules: [no-such-rule]\n"
            "    effect: e\n    status: enforced\n",
            "c.yaml: timeline[0].rules: unknown rule",
        ),
        ("rules:\n  disabled: [nope]\n", "c.yaml: rules.disabled[0]: unknown rule 'nope'"),
        ("- a\n- b\n", "c.yaml: the top level must be a mapping"),
        ("rules:\n  rotation_days: [1\n", "c.yaml:3: invalid YAML"),
        # What `run` would refuse, `config check` refuses first.
        (
            "worker: {scope: organizations/../../x}\n",
            "c.yaml: worker.scope: scope 'organizations/../../x': expected organizations/NUMBER",
        ),
        (
            'worker: {scope: "projects/my-proj\\n"}\n',
            "c.yaml: worker.scope: scope 'projects/my-proj\\n': expected",
        ),
        (
            "worker: {scope: organizations/1, exports: [org.jsonl]}\n",
            "c.yaml: worker: give worker.scope or worker.exports, not both",
        ),
        (
            "database_url: ftp://host/db\n",
            "c.yaml: database_url: ftp: keysentry keeps history in SQLite or PostgreSQL",
        ),
        ('database_url: "::::"\n', "c.yaml: database_url: not a database URL"),
    ],
)
def test_errors_name_the_path(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(tmp_path / message))


def test_one_deadline_per_rule() -> None:
    entry = (
        "  - id: {id}\n    date: 2027-01-01\n    rules: [gemini-standard-key]\n"
        "    effect: e\n    status: announced\n"
    )
    with pytest.raises(ConfigError, match="already has its deadline in entry 'a'"):
        parse_config("timeline:\n" + entry.format(id="a") + entry.format(id="b"), "x.yaml")


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"/nonexistent\.yaml: cannot read config"):
        load_config("/nonexistent.yaml")
