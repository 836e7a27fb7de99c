"""The completion of a listed key with what the other sources add keeps every
field the inventory gave, whatever fields KeyRecord grows."""

from dataclasses import fields, replace

from scanner.core.models import KeyRecord
from scanner.scan.enrich import completed

ADDED = ("owners", "usage", "creator", "key_admins", "leaks", "string_read")


def test_completed_replaces_the_added_fields_and_keeps_every_other() -> None:
    # A distinct value in every field: a field copied from the wrong place shows.
    listed = KeyRecord(*(f"listed {f.name}" for f in fields(KeyRecord)))
    added = ADDED
    done = completed(listed, tuple(f"added {name}" for name in added))
    assert done == replace(listed, **{name: f"added {name}" for name in added})
    for f in fields(KeyRecord):
        expected = "added" if f.name in added else "listed"
        assert getattr(done, f.name) == f"{expected} {f.name}"


def test_completed_with_what_the_key_already_has_is_the_key_itself() -> None:
    listed = KeyRecord(*(f"listed {f.name}" for f in fields(KeyRecord)))
    same = tuple(f"listed {name}" for name in ADDED)
    assert completed(listed, same) is listed
    # One added value that differs is enough to make a new record with it.
    changed = (*same[:-2], "added leaks", same[-1])
    done = completed(listed, changed)
    assert done is not listed and done.leaks == "added leaks" and done.owners == "listed owners"
