"""The ``cardwright`` console script: one Typer app, one module per subcommand.

Errors of the ``CardwrightError`` tree become a one-line message on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

from cardwright import logs
from cardwright.schema.errors import BadInput, CardwrightError, ConfigurationError

app = typer.Typer(
    name="cardwright",
    help="Keeps per-topic cards correct on top of a Kafka stream of chat message events.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        # The installed distribution's metadata is the one source (pyproject reads __version__).
        typer.echo(f"cardwright {_installed_version()}")
        raise typer.Exit()


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cardwright")
    except PackageNotFoundError:  # running from a checkout that was never installed
        from cardwright import __version__

        return __version__


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the installed version and exit.",
    ),
) -> None:
    """Keeps per-topic cards correct on top of a Kafka stream of chat message events."""


# --- subcommand registration (one line per module; keep sorted) -------------------------------
from cardwright.commands import cards as cards_cmd  # noqa: E402
from cardwright.commands import consume as consume_cmd  # noqa: E402
from cardwright.commands import dlq as dlq_cmd  # noqa: E402
from cardwright.commands import lag as lag_cmd  # noqa: E402
from cardwright.commands import migrate as migrate_cmd  # noqa: E402
from cardwright.commands import publish as publish_cmd  # noqa: E402
from cardwright.commands import reextract as reextract_cmd  # noqa: E402
from cardwright.commands import replay as replay_cmd  # noqa: E402
from cardwright.stack.cli import app as stack_app  # noqa: E402

app.command("cards")(cards_cmd.cards)
app.command("consume")(consume_cmd.consume)
app.add_typer(dlq_cmd.app, name="dlq")
app.command("lag")(lag_cmd.lag)
app.command("migrate")(migrate_cmd.migrate)
app.command("publish")(publish_cmd.publish)
app.command("reextract")(reextract_cmd.reextract)
app.command("replay")(replay_cmd.replay)
app.command("runs")(cards_cmd.runs)
app.add_typer(stack_app, name="stack")
# --- end of subcommand registration -----------------------------------------------------------


def main() -> None:
    logs.configure_command()  # one logging set-up for every command, before any runs
    try:
        app()
    except ConfigurationError as exc:
        print(f"cardwright: {logs.redact(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except BadInput as exc:
        print(f"cardwright: bad input: {logs.redact(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except CardwrightError as exc:
        print(f"cardwright: {logs.redact(str(exc))}", file=sys.stderr)
        sys.exit(1)
