"""The ``cnnlab`` command line. ``main()`` is the console script.

Every user error (:class:`cnnlab.errors.CnnlabError`) becomes one line on stderr,
``cnnlab: error: ...``, and a non-zero exit (2; 3 for a diverged run). Usage errors (an
unknown flag, a value of the wrong type) are one such line too, exit 2, naming the
command's ``--help``. A traceback is shown only for cnnlab's own bugs, and only with
``CNNLAB_DEBUG=1``. Python warnings from the libraries cnnlab uses are not shown (cnnlab
says what matters in its own words); ``CNNLAB_DEBUG=1`` or ``python -W`` shows them.
"""

from __future__ import annotations

import os
import sys
import warnings

import typer

from cnnlab import limits
from cnnlab.cli.app import app
from cnnlab.errors import CnnlabError
from cnnlab.extras import EXTRAS

# importing the command modules registers their commands on `app`
from cnnlab.cli import eval_cmd, experiment_cmd, filter_cmd, models_cmd, serve_cmd, size_cmd, train_cmd, viz_cmd  # noqa: E402,F401  isort: skip


# top-level module -> the extra that installs it
OPTIONAL = {m: extra for extra, mods in EXTRAS.items() for m in mods.replace(" and ", " ").split()}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    debug = bool(os.environ.get("CNNLAB_DEBUG"))
    with warnings.catch_warnings():
        if not debug and not sys.warnoptions:
            warnings.simplefilter("ignore")
        try:
            code = app(args=argv, prog_name="cnnlab", standalone_mode=False)
            return code if isinstance(code, int) else 0
        except typer.TyperException as e:  # Typer's (vendored Click's) usage errors
            kinds = {k.__name__ for k in type(e).__mro__}
            if "NoArgsIsHelpError" in kinds:  # `cnnlab` or `cnnlab viz` alone: the help
                e.show()  # type: ignore[attr-defined]
                return 2
            ctx = getattr(e, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if "UsageError" in kinds and ctx is not None else ""
            _error(e.format_message() + where)
            return 2 if "UsageError" in kinds else e.exit_code
        except typer.Abort:
            _error("aborted")
            return 1
        except SystemExit as e:  # Typer exits on a broken pipe (`cnnlab models | head -1`)
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except CnnlabError as e:
            _error(str(e))
            return e.exit_code
        except KeyboardInterrupt:
            _error("interrupted")
            return 130
        except Exception as e:  # a bug in cnnlab, not the user's fault
            if debug:
                raise
            extra = OPTIONAL.get((getattr(e, "name", None) or "").split(".")[0])
            if isinstance(e, ModuleNotFoundError) and extra:  # an optional dependency a command imports lazily
                _error(f"this command needs {e.name}, which is not installed: pip install 'cnnlab[{extra}]'")
                return 2
            _error(
                f"internal error: {type(e).__name__}: {e} "
                "(a bug in cnnlab; rerun with CNNLAB_DEBUG=1 to see the traceback, and please report it)"
            )
            return 1
        finally:
            limits.set_max_memory(None)  # --max-memory holds for one command, not for the process


def _error(message: str) -> None:
    print("cnnlab: error: " + " ".join(message.split()), file=sys.stderr, flush=True)


def run() -> None:
    """Entry point for ``python -m cnnlab`` and the console script."""
    sys.exit(main())
