"""A parent whose child asks an ungoverned question and then a governed production one."""

from __future__ import annotations

from mlsitter import Context, process


@process("chain-release")
def chain_release(ctx: Context) -> dict:
    """The parent: one child run, which asks both questions."""
    return ctx.call("chain-check")


@process("chain-check")
def chain_check(ctx: Context) -> dict:
    ctx.breakpoint("Data contract unchanged?")
    answer = ctx.breakpoint("Ship m-2 to production?", tags=("production",))
    return {"shipped": answer.approved}
