"""A scan keeps a key's last judgement only under the code that made it: an
upgrade that changes anything a verdict reads (a helper outside the rules,
normalize, ownership, a default in the configuration, the schema) judges
every key again, and one that changes nothing a verdict reads (a report
template) keeps them. Each upgrade is a copy of the installed packages with
one change, run as its own process on a database the original code wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

import scanner
from scanner.scan.code_digest import code_digest, import_closure
from scanner.scan.reuse import JUDGING_ROOTS
from scanner.store import db
from scanner.store.tables import Scan

DEMO = Path(scanner.__file__).parent / "samples" / "demo-org.jsonl"
DAY_1, DAY_2 = "2026-11-21T00:00:00Z", "2026-11-21T06:00:00Z"


def test_the_closure_holds_what_judges_and_not_what_reports() -> None:
    modules, outside = import_closure((*JUDGING_ROOTS, "scanner.sources.inventory.export"))
    for judging in (
        "scanner.core.models",
        "scanner.sources.inventory.normalize",
        "scanner.sources.inventory.ownership",
        "scanner.config",
        "scanner.rules.key_api_unrestricted",
        "scanner.exceptions.matching",
        "scanner.store.history.writer",
    ):
        assert judging in modules, judging
    assert not [m for m in modules if m.startswith(("scanner.report", "scanner.cli"))]
    assert {"sqlalchemy", "pydantic", "google"} <= outside


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "upgraded"
    for package in (scanner,):
        source = Path(package.__file__).parent
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(source, root / source.name, ignore=ignore)
    return root


def _run(code: Path | None, *args: str) -> str:
    """`keysentry ARGS` as the code at CODE (the installed code if None) runs it."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if code is not None:
        env["PYTHONPATH"] = str(code)
    # Not from the checkout: `-m` puts the working directory first on the path.
    done = subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _scan(code: Path | None, url: str, at: str) -> dict[str, str]:
    report = _run(
        code, "scan", "--from-export", str(DEMO), "--now", at, "--db", url, "--format", "json"
    )
    return {key["name"]: key["status"] for key in json.loads(report)["keys"]} | {
        f"{key['name']}/{f['rule']}": f["severity"]
        for key in json.loads(report)["keys"]
        for f in key["findings"]
    }


def _kept(url: str) -> int:
    engine = db.open_engine(url)
    with engine.connect() as conn:
        counts = conn.execute(select(Scan.counts).order_by(Scan.id.desc()).limit(1)).scalar_one()
    engine.dispose()
    return int(counts["judging"]["kept"])


def _edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        file = root / path
        text = file.read_text()
        assert text.count(old) == 1, f"{path}: {old!r}"
        file.write_text(text.replace(old, new))

    return edit


def _append(path: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        with (root / path).open("a") as file:
            file.write("\n# an upgrade changed this module\n")

    return edit


MIGRATION = '''"""An index, as an upgrade's migration adds one."""
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_upgrade_test", "scans", ["evaluated_at"])


def downgrade() -> None:
    op.drop_index("ix_upgrade_test", "scans")
'''


def _migration(root: Path) -> None:
    versions = root / "scanner" / "store" / "migrations" / "versions"
    (versions / "9999_upgrade_test.py").write_text(MIGRATION.format(head=db.head_revision()))


# What each upgrade changes, and whether the verdicts it gives differ from today's.
UPGRADES: dict[str, tuple[Callable[[Path], None], bool]] = {
    "a helper of the rules, in models": (
        _edit(
            "scanner/core/models.py",
            "return not self.api_targets\n",
            "return len(self.api_targets) < 2\n",
        ),
        True,
    ),
    "a default in the configuration": (
        _edit(
            "scanner/config/__init__.py",
            "rotation_days: int = Field(default=90,",
            "rotation_days: int = Field(default=20,",
        ),
        True,
    ),
    "normalize": (_append("scanner/sources/inventory/normalize.py"), False),
    "ownership": (_append("scanner/sources/inventory/ownership.py"), False),
    "a field reader of the sources": (_append("scanner/inputs/fields.py"), False),
    "the export reader": (_append("scanner/sources/inventory/export.py"), False),
}


@pytest.fixture(scope="module")
def day_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database the installed code scanned the demo organization into."""
    path = tmp_path_factory.mktemp("day1") / "history.db"
    _scan(None, f"sqlite:///{path}", DAY_1)
    return path


def _upgraded_copy(day_one: Path, tmp_path: Path) -> tuple[Path, str]:
    shutil.copy(day_one, tmp_path / "history.db")
    return _copy(tmp_path), f"sqlite:///{tmp_path / 'history.db'}"


def test_the_same_code_keeps_every_judgement(day_one: Path, tmp_path: Path) -> None:
    code, url = _upgraded_copy(day_one, tmp_path)
    _append("scanner/report/formats.py")(code)  # a report's code: no verdict reads it
    _append("scanner/alerts/content/payload.py")(code)
    (code / "scanner" / "alerts" / "content" / "templates" / "notification.html").write_text(
        "<p>{{ subject }}</p>"
    )
    _scan(code, url, DAY_2)
    assert _kept(url) == 30


@pytest.mark.parametrize("upgrade", sorted(UPGRADES))
def test_an_upgrade_of_what_judges_judges_every_key_again(
    upgrade: str, day_one: Path, tmp_path: Path
) -> None:
    code, url = _upgraded_copy(day_one, tmp_path)
    change, moves_verdicts = UPGRADES[upgrade]
    change(code)
    verdicts = _scan(code, url, DAY_2)
    assert _kept(url) == 0
    fresh = _scan(code, f"sqlite:///{tmp_path / 'fresh.db'}", DAY_2)
    assert verdicts == fresh
    assert (verdicts != _scan(None, f"sqlite:///{tmp_path / 'today.db'}", DAY_2)) is moves_verdicts


def test_a_migration_judges_every_key_again(day_one: Path, tmp_path: Path) -> None:
    code, url = _upgraded_copy(day_one, tmp_path)
    _migration(code)
    _run(code, "db", "upgrade", "--db", url)
    _scan(code, url, DAY_2)
    assert _kept(url) == 0


def test_the_code_digest_follows_the_files_it_reads(tmp_path: Path) -> None:
    """Within one process the digest is read once; a process that imports
    other files names other code."""
    probe = (
        "from scanner.scan.code_digest import code_digest; "
        "print(code_digest(('scanner.scan.engine',)))"
    )
    code = _copy(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(code), PYTHONDONTWRITEBYTECODE="1")

    def digest() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=tmp_path,
        )
        return done.stdout.strip()

    before = digest()
    assert before == code_digest(("scanner.scan.engine",))
    _append("scanner/core/key_views.py")(code)
    assert digest() != before


ALERTS = Path(scanner.__file__).parent / "samples" / "demo-alerts.yaml"


def _lines_rebuilt(code: Path | None, url: str, at: str) -> bool:
    _run(
        code, "scan", "--from-export", str(DEMO), "--config", str(ALERTS), "--now", at, "--db", url
    )
    engine = db.open_engine(url)
    with engine.connect() as conn:
        counts = conn.execute(select(Scan.counts).order_by(Scan.id.desc()).limit(1)).scalar_one()
    engine.dispose()
    return bool(counts["alerts"]["lines_rebuilt"])


def test_digest_lines_are_rebuilt_under_other_alert_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    code = _copy(tmp_path)
    assert _lines_rebuilt(None, url, DAY_1)
    assert not _lines_rebuilt(code, url, DAY_2)  # the same code: the lines stand
    _append("scanner/alerts/plan/routing.py")(code)
    assert _lines_rebuilt(code, url, "2026-11-21T12:00:00Z")
