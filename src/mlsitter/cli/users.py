"""``mlsitter users add|remove|list``: local accounts and their roles, which approval rules read."""

from __future__ import annotations

import click

from mlsitter.cli import _console, _dump
from mlsitter.errors import InputError


@click.group("users")
def users() -> None:
    """Local accounts and their roles, kept outside the store (0600): who may answer governed breakpoints.

    An OS account answering from the CLI gets the roles of the account with its name."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, metavar="ROLE",
              help="A role the approvals file declares (repeatable).")
@click.option("--password", "set_password", is_flag=True,
              help="Ask for a dashboard password (at least 8 characters; stored as a scrypt hash, never as text).")
def add(name: str, roles: tuple[str, ...], set_password: bool) -> None:
    """Add NAME with its roles, or replace the roles of an existing account (and its password with --password)."""
    from mlsitter.runtime.approvals import load_rules
    from mlsitter.runtime.users import load_users

    rules = load_rules()
    unknown = [r for r in roles if rules is not None and r not in rules.roles]
    if rules is not None and unknown:
        raise InputError(f"unknown role {unknown[0]!r}: the approvals file {rules.source} declares "
                         f"{', '.join(rules.roles)}")
    accounts = load_users()
    existing = accounts.accounts.get(name)
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True) if set_password else None
    user = accounts.add(name, list(roles), password)
    if password is None and existing is not None and existing.password_hash:  # roles change, the credential stays
        accounts.accounts[name] = type(user)(user.name, user.roles, existing.password_hash)
    accounts.save()
    verb = "updated" if existing else "added"
    _console().print(f"{verb} user {name} with roles {', '.join(user.roles)} in {accounts.path}")


@users.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove the account NAME (its past answers stay in the journals)."""
    from mlsitter.runtime.users import load_users

    accounts = load_users()
    accounts.remove(name)
    accounts.save()
    _console().print(f"removed user {name} from {accounts.path}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """The accounts and their roles (never their secrets)."""
    from mlsitter.runtime.users import describe, load_users

    accounts = load_users()
    rows = [describe(u) for u in sorted(accounts.accounts.values(), key=lambda u: u.name)]
    if as_json:
        _dump({"file": str(accounts.path), "users": rows})
        return
    if not rows:
        _console().print(f"no users in {accounts.path}; add one with: mlsitter users add NAME --role ROLE")
        return
    from rich.table import Table

    table = Table(title=str(accounts.path))
    for col in ("user", "roles", "dashboard password"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], ", ".join(row["roles"]), "set" if row["password"] else "—")
    _console().print(table)
