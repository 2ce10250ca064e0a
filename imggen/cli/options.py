"""Typer parameters made from the option table (imggen/options/table.py), so a command declares
none of the shared options by hand.

`@takes(command)` appends, to the decorated function's own parameters, one typed Typer option
per entry of `options.OPTIONS` that `command` takes, and hands their values to the function as
one `flags` mapping (option name -> the value typed, None when absent). Typer reads the
resulting signature like any other: every parameter keeps a real type.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from imggen import options
from imggen.cli.flags import Flags, checked

__all__ = ["Flags", "checked", "completer", "parameter", "takes"]

F = TypeVar("F", bound=Callable[..., Any])


def _verbose(ctx: typer.Context, value: bool) -> bool:
    if value:
        ctx.meta["imggen.verbose"] = True
    return value


def completer(source: str) -> Callable[..., list[Any]]:
    """The autocompletion callback for a source of cli/completion.py: its values (or (value,
    what it is) pairs) that start with what is typed."""

    def complete(ctx: typer.Context, incomplete: str) -> list[Any]:
        from imggen.cli import completion

        found: list[Any] = getattr(completion, source)(ctx.params)
        return [c for c in found if (c[0] if isinstance(c, tuple) else c).startswith(incomplete)]

    return complete


def _typed(opt: options.Option) -> Any:
    """The Python type Typer reads for an option: absent flags are None (or False)."""
    if opt.kind is bool:
        return bool | None if opt.tristate else bool
    if opt.kind is list:
        return list[str] | None
    return opt.kind | None


def parameter(opt: options.Option, command: str) -> inspect.Parameter:
    """The option as a typed keyword parameter carrying its typer.Option."""
    decls = list(opt.flags)
    if opt.negative:
        decls = [f"{opt.flag}/{opt.negative}"]
    info = typer.Option(
        *decls,
        metavar=opt.metavar,
        help=opt.help_for(command),
        rich_help_panel=opt.panel or None,
        show_default=False,
        autocompletion=completer(opt.complete) if opt.complete else None,
        callback=_verbose if opt.name == "verbose" else None,
    )
    default = False if opt.kind is bool and not opt.tristate else None
    return inspect.Parameter(
        opt.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[_typed(opt), info],
        default=default,
    )


def takes(command: str, *, skip: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Give the decorated command the table's options for `command` (less `skip`), collected
    into its keyword-only `flags` parameter."""
    table = [o for o in options.for_command(command) if o.name not in skip]

    def decorate(func: F) -> F:
        own = [
            p
            for p in inspect.signature(func, eval_str=True).parameters.values()
            if p.name != "flags"
        ]
        params = own + [parameter(o, command) for o in table]
        names = [o.name for o in table]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            flags = {name: kwargs.pop(name) for name in names}
            return func(*args, flags=flags, **kwargs)

        del wrapper.__wrapped__  # Typer must read the signature below, not func's
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate
