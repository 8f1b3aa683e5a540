"""The Typer application the command modules attach to."""

import typer

app = typer.Typer(
    name="cnnlab",
    help="cnnlab: see and use everything a convolutional network is made of.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
