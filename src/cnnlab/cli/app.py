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
    max_memory: Annotated[
        Optional[str],
        typer.Option(
            "--max-memory",
            help="Refuse requests estimated to need more memory than SIZE (8G, 512M) "
            "[$CNNLAB_MAX_MEMORY, else half the memory available when the command starts].",
        ),
    ] = None,
) -> None:
    """cnnlab: see and use everything a convolutional network is made of."""
    from cnnlab import limits

    limits.set_max_memory(max_memory)
