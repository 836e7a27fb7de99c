"""What keysentry writes from hostile input: CSV rows a spreadsheet cannot
split into formulas, labels that cannot add a recipient, a lock that a
symlink to the database cannot bypass, and terminals that get text only."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from scanner.alerts.content.message import build_message
from scanner.alerts.content.render import RenderedEmail
from scanner.alerts.delivery.channels.email import EmailChannel
from scanner.alerts.delivery.channels.errors import DeliveryError
from scanner.config import OwnershipConfig
from scanner.config.alerts import SmtpConfig
from scanner.core.models import IamIndex, ProjectRecord
from scanner.sources.inventory.ownership import project_owners, with_creator
from scanner.store import db
from scanner.store.lock import ScanLock
from tests.peers import free_port, smtp_server
from tests.test_cli import BIN
from tests.test_real_shapes import REAL, keysentry

FORMULA = re.compile(r"^[=+\-@\t]")


def test_csv_cells_cannot_start_a_row_or_a_formula(tmp_path: Path) -> None:
    lines = (REAL / "asset-export-keys.jsonl").read_text().splitlines()
    key = json.loads(lines[-1])
    key["resource"]["data"]["displayName"] = "\r=1+1\n@SUM(A1)\r\n+cmd|' /C calc'!A0"
    export = tmp_path / "org.jsonl"
    export.write_text("\n".join([*lines[:-1], json.dumps(key)]) + "\n")
    report = tmp_path / "report.csv"
    scan = ["scan", "--db", f"sqlite:///{tmp_path}/h.db", "--from-export", str(export)]
    code, _, err = keysentry(*scan, "--format", "csv", "--output", str(report))
    assert code == 0, err
    out = report.read_bytes().decode()  # as written: a text-mode pipe would fold the CRs
    # Whatever a reader takes for a line break, no physical line starts a formula...
    assert not [line for line in re.split(r"\r\n|\r|\n", out) if FORMULA.match(line)]
    # ...and a CSV reader gets the rows back whole, one per key and finding.
    rows = list(csv.reader(io.StringIO(out, newline="")))
    names = {row[rows[0].index("display_name")] for row in rows[1:]}
    assert "\r'=1+1\n'@SUM(A1)\r\n'+cmd|' /C calc'!A0" in names


def test_a_label_adds_one_plain_address_or_none() -> None:
    config = OwnershipConfig(labels=["owner"], label_domain="example.com")

    def owners(value: str) -> tuple[str, ...]:
        project = ProjectRecord("1", "p", None, "ACTIVE", labels=(("owner", value),))
        return project_owners(project, None, config)

    assert owners("alice") == ("alice@example.com",)
    assert owners("team-payments_eu") == ("team-payments_eu@example.com",)
    for hostile in ("mallory@evil.example,alice", "alice, bob", "a\r\nBcc: x@y", "<x>", ""):
        assert owners(hostile) == (), hostile


def test_a_symlink_to_the_database_finds_the_same_lock(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    link = tmp_path / "alias.db"
    engine = db.open_engine(f"sqlite:///{real}")
    db.ensure_current(engine)
    link.symlink_to(real)
    other = db.open_engine(f"sqlite:///{link}")
    holder = ScanLock(engine)
    holder.hold_for_process()  # as `keysentry run` does
    try:
        with ScanLock(other).for_scan() as held:
            assert held is False
    finally:
        holder.release_process()
    with ScanLock(other).for_scan() as held:
        assert held is True
    engine.dispose()
    other.dispose()


@pytest.mark.parametrize("fmt", ["text", "html"])
def test_preview_output_carries_no_escape_sequences(tmp_path: Path, fmt: str) -> None:
    lines = (REAL / "asset-export-keys.jsonl").read_text().splitlines()
    key = json.loads(lines[-1])
    key["resource"]["data"]["displayName"] = "\x1b[2J\x1b]0;owned\x07"
    export = tmp_path / "org.jsonl"
    export.write_text("\n".join([*lines[:-1], json.dumps(key)]) + "\n")
    config = tmp_path / "keysentry.yaml"
    config.write_text(
        "alerts:\n  route: {receiver: team}\n  receivers:\n"
        "    - name: team\n      email: {to: [team@example.com]}\n"
    )
    db_url = f"sqlite:///{tmp_path}/h.db"
    code, _, err = keysentry(
        "scan", "--config", str(config), "--db", db_url, "--from-export", str(export)
    )
    assert code == 0, err
    code, out, err = keysentry(
        "alerts", "preview", "--config", str(config), "--db", db_url, "--format", fmt
    )
    assert code == 0, err
    assert "[2J" in out and "\x1b" not in out and "\x07" not in out


HOSTILE_NAME = (
    "\x1b]0;owned\x07\x1b[2J"  # retitle the window, clear the screen
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # an OSC 8 hyperlink
    "\u2028next\x9b31mred"  # a line separator, an 8-bit CSI
)
NOT_TEXT = ("\x1b", "\x07", "\x9b", "\u2028")


def on_terminal(*args: str) -> str:
    """What `keysentry ARGS` prints to a terminal (a pseudo-terminal here)."""
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [str(BIN), *args], stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert child.wait(60) == 0, child.stderr.read() if child.stderr else ""
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_escape_sequence_reaches_a_terminal_in_any_format(tmp_path: Path) -> None:
    lines = (REAL / "asset-export-keys.jsonl").read_text().splitlines()
    key = json.loads(lines[-1])
    key["resource"]["data"]["displayName"] = HOSTILE_NAME
    export = tmp_path / "org.jsonl"
    export.write_text("\n".join([*lines[:-1], json.dumps(key)]) + "\n")
    config = tmp_path / "keysentry.yaml"
    exception = {
        "id": "hostile",
        "rules": ["key-api-unrestricted"],
        "projects": ["*-payments"],
        "reason": HOSTILE_NAME,
        "approved_by": "alice@example.com",
        "expires": "2027-01-01",
    }
    config.write_text(json.dumps({"exceptions": [exception]}))
    db_url = f"sqlite:///{tmp_path}/h.db"
    common = ["--config", str(config), "--db", db_url]
    code, _, err = keysentry(
        "scan", *common, "--from-export", str(export), "--now", "2026-12-01T00:00:00Z"
    )
    assert code == 0, err
    commands = [["report", "--format", fmt] for fmt in ("table", "csv", "json")] + [
        ["changes", "--since", "2026-01-01", "--format", fmt] for fmt in ("table", "csv", "json")
    ]
    commands += [
        ["exceptions", "list", "--now", "2026-12-01T00:00:00Z", "--format", fmt]
        for fmt in ("table", "csv", "json")
    ]
    for command in commands:
        shown = on_terminal(*command, *common)
        shows_text = command[0] == "report" or (
            command[0] == "exceptions" and command[-1] != "table"
        )
        if shows_text:
            assert "owned" in shown and "next" in shown, command  # the text, not its effect
        assert not [c for c in NOT_TEXT if c in shown], command


SMUGGLED = "dave@example.com,mallory@evil.example"


def test_an_iam_member_or_creator_with_a_comma_is_no_recipient() -> None:
    project = ProjectRecord("1", "p", None, "ACTIVE")
    members = frozenset({f"user:{SMUGGLED}", "group:team@example.com", "user:a <b@c.d>"})
    iam = IamIndex({"projects/1": {"roles/owner": members}}, {}, frozenset(), {})
    owners = project_owners(project, iam, OwnershipConfig())
    assert owners == ("team@example.com",)
    assert with_creator(owners, SMUGGLED) == owners
    assert with_creator(owners, "Carol@Example.com") == (*owners, "carol@example.com")


def test_an_email_goes_to_its_one_recipient_whatever_its_headers(tmp_path: Path) -> None:
    port = free_port()
    smtp = SmtpConfig(host="127.0.0.1", port=port, security="none", sender="k@example.com")
    message = build_message(
        smtp, "dave@example.com", RenderedEmail("s", "t", "<p>t</p>"), "k", False
    )
    message.replace_header("To", f"{SMUGGLED}, eve@evil.example")
    with smtp_server(port) as received:
        EmailChannel(smtp, {}).send("dave@example.com", message)
        with pytest.raises(DeliveryError, match="not one email address"):
            EmailChannel(smtp, {}).send(SMUGGLED, message)
    assert [r.recipients for r in received.received] == [["dave@example.com"]]
