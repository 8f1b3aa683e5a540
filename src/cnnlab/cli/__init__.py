"""The ``cnnlab`` command line. ``main()`` is the console script.

Every user error (:class:`cnnlab.errors.CnnlabError`) becomes one line on stderr,
``cnnlab: error: ...``, and a non-zero exit. Usage errors (an unknown flag) are Typer's
own short message. A traceback is shown only for cnnlab's own bugs, and only with
``CNNLAB_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

from cnnlab.cli.app import app
from cnnlab.errors import CnnlabError
from cnnlab.extras import EXTRAS

# importing the command modules registers their commands on `app`
from cnnlab.cli import eval_cmd, experiment_cmd, filter_cmd, models_cmd, serve_cmd, size_cmd, train_cmd, viz_cmd  # noqa: E402,F401  isort: skip


# top-level module -> the extra that installs it
OPTIONAL = {m: extra for extra, mods in EXTRAS.items() for m in mods.replace(" and ", " ").split()}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        app(args=argv, prog_name="cnnlab")  # standalone: Typer exits with SystemExit
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except CnnlabError as e:
        _error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as e:  # a bug in cnnlab, not the user's fault
        if os.environ.get("CNNLAB_DEBUG"):
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


def _error(message: str) -> None:
    print("cnnlab: error: " + " ".join(message.split()), file=sys.stderr, flush=True)


def run() -> None:
    """Entry point for ``python -m cnnlab`` and the console script."""
    sys.exit(main())
