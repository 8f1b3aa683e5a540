"""The Typer application the command modules attach to."""

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
