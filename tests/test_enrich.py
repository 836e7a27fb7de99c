"""The completion of a listed key with what the other sources add keeps every
field the inventory gave, whatever fields KeyRecord grows."""

from dataclasses import fields, replace

from scanner.enrich import completed
from scanner.models import KeyRecord


def test_completed_replaces_the_added_fields_and_keeps_every_other() -> None:
    # A distinct value in every field: a field copied from the wrong place shows.
    listed = KeyRecord(*(f"listed {f.name}" for f in fields(KeyRecord)))
    added = ("owners", "usage", "creator", "key_admins", "leaks")
    done = completed(listed, tuple(f"added {name}" for name in added))
    assert done == replace(listed, **{name: f"added {name}" for name in added})
    for f in fields(KeyRecord):
        expected = "added" if f.name in added else "listed"
        assert getattr(done, f.name) == f"{expected} {f.name}"
