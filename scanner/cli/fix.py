"""`keysentry fix`: plan API restrictions from observed usage, apply a plan,
roll it back. Fixes are a deliberate human command: the worker applies none."""

from __future__ import annotations

import click

from scanner.cli.fix_apply import fix_apply, fix_rollback
from scanner.cli.fix_plan import fix_plan


@click.group("fix")
def fix_group() -> None:
    """Plan, apply and roll back API restrictions from observed usage."""


fix_group.add_command(fix_plan)
fix_group.add_command(fix_apply)
fix_group.add_command(fix_rollback)
