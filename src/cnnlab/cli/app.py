"""The Typer application the command modules attach to, and its global options."""

from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="cnnlab",
    help="cnnlab: see and use everything a convolutional network is made of.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts show defaults as [like this]: not markup
    context_settings={"help_option_names": ["-h", "--help"]},
)

MAX_MEMORY_HELP = (
    "Refuse requests estimated to need more memory than SIZE (8G, 512M, 2.5GiB) "
    "[$CNNLAB_MAX_MEMORY, else half the memory available when the command starts]."
)


def _set_max_memory(value: Optional[str]) -> Optional[str]:
    """Set the limit while the flags are parsed, before the command's own checks run; an
    absent flag leaves what `cnnlab --max-memory SIZE COMMAND` set."""
    if value is not None:
        from cnnlab import limits

        limits.set_max_memory(value)
    return value


# `--max-memory` on every command that sizes an allocation from what the user typed, after the
# command name as well as before it (issue 14): `cnnlab filter ... --max-memory 2G`
MaxMemory = Annotated[
    Optional[str], typer.Option("--max-memory", metavar="SIZE", callback=_set_max_memory, help=MAX_MEMORY_HELP)
]


def _print_version(value: bool) -> None:
    if value:
        from cnnlab import __version__

        print(f"cnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print cnnlab's version and exit."),
    ] = False,
    max_memory: MaxMemory = None,
) -> None:
    """cnnlab: see and use everything a convolutional network is made of."""
