"""The ``robustlaw`` command line: thin commands, each a call into the library."""

from __future__ import annotations

import typer

from robustlaw._version import __version__
from robustlaw.cli._common import OneLineErrors, separate_stdout
from robustlaw.cli.bound import bound
from robustlaw.cli.data import data_app
from robustlaw.cli.experiments import demo, reproduce
from robustlaw.cli.lipschitz import lipschitz
from robustlaw.cli.report import report
from robustlaw.cli.sweep import app as sweep_app

app = typer.Typer(
    name="robustlaw",
    help="The law of robustness: theory, data, fitting and certified Lipschitz constants.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"robustlaw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """The law of robustness: theory, data, fitting and certified Lipschitz constants."""


app.command()(bound)
app.command()(demo)
app.command()(lipschitz)
app.command()(report)
app.command()(reproduce)
app.add_typer(data_app, name="data")
app.add_typer(sweep_app, name="sweep")


def main() -> None:
    """The ``robustlaw`` console script: stdout carries only what a command prints (see
    :func:`robustlaw.cli._common.separate_stdout`)."""
    separate_stdout()
    app()


__all__ = ["app", "main"]
