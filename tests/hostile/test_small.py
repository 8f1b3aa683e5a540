"""Issue 14, item 8: one-line usage errors, --version, defaults in every --help, no Python
warnings, --quiet and terminal-only progress bars for viz, the invariance verdict
worded from the numbers, serve --port, and eval flags that disagree with a run (the 413 for every HTTP client: test_serve_body.py)."""

from __future__ import annotations

import warnings

import typer

from cnnlab import __version__
from tests.hostile.inprocess import cli, one_line


def test_usage_errors_are_one_line(capsys):
    one_line(cli(capsys, "train", "--no-such-flag"), "No such option: --no-such-flag", "cnnlab train --help")
    one_line(cli(capsys, "train", "--epochs", "abc"), "'--epochs'", "cnnlab train --help")
    one_line(cli(capsys, "size"), "Missing argument", "cnnlab size --help")
    one_line(cli(capsys, "nosuchcommand"), "No such command")


def test_version(capsys):
    r = cli(capsys, "--version")
    assert r.code == 0 and r.out.strip() == f"cnnlab {__version__}"


def test_every_option_shows_its_default():
    from cnnlab.cli import app

    def commands(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from commands(sub, f"{path} {name}")

    missing = []
    for path, cmd in commands(typer.main.get_command(app), "cnnlab"):
        for p in cmd.params:
            if p.param_type_name != "option" or p.name == "help" or p.required or p.is_flag:
                continue
            shown = (p.default is not None and p.show_default is not False) or "[" in (p.help or "")
            if not shown:
                missing.append(f"{path} {p.opts[0]}")
    assert not missing, missing


def test_no_python_warnings_on_stderr(capsys, monkeypatch):
    import cnnlab.models

    real = cnnlab.models.list_models

    def noisy():
        warnings.warn("a library's deprecation notice", DeprecationWarning, stacklevel=1)
        warnings.warn("a numpy-style runtime warning", RuntimeWarning, stacklevel=1)
        return real()

    monkeypatch.setattr(cnnlab.models, "list_models", noisy)
    r = cli(capsys, "models")
    assert r.code == 0 and "lenet5" in r.out and r.err == ""


def test_viz_quiet_and_no_progress_bar_off_a_terminal(capsys, tmp_path):
    args = ("viz", "features", "lenet5", "--class", "1", "--steps", "3", "--snapshots", "0,3")
    r = cli(capsys, *args, "-o", tmp_path / "a.png")
    assert r.code == 0 and r.out.startswith("wrote ") and r.err == ""  # stderr is not a terminal: no bar
    r = cli(capsys, *args, "-o", tmp_path / "b.png", "--quiet")
    assert r.code == 0 and r.out == "" and r.err == "" and (tmp_path / "b.png").exists()


def _rows(lc_reg: float, lc_tr: float, cv_tr: float, lc_reg_on_tr: float, cv_reg_on_tr: float):
    acc = {
        ("lc-baseline", "registered"): (lc_reg, lc_reg_on_tr),
        ("lc-baseline", "translated"): (0.5, lc_tr),
        ("conv-baseline", "registered"): (0.5, cv_reg_on_tr),
        ("conv-baseline", "translated"): (0.5, cv_tr),
        ("fc-baseline", "registered"): (0.5, 0.5),
        ("fc-baseline", "translated"): (0.5, 0.5),
    }
    params = {"fc-baseline": 1000, "lc-baseline": 5000, "conv-baseline": 100}
    return [
        {"model": m, "trained_on": s, "params": params[m], "test_registered": r, "test_translated": t}
        for (m, s), (r, t) in acc.items()
    ]


def test_invariance_verdict_follows_the_numbers():
    from cnnlab.experiments.invariance import findings

    chance = findings(_rows(0.11, 0.10, 0.105, 0.09, 0.1))
    assert not any("as the lecture predicts" in f for f in chance)
    assert all("near chance" in f for f in chance)
    agrees = findings(_rows(0.98, 0.90, 0.97, 0.30, 0.60))
    assert all(f.endswith("as the lecture predicts") for f in agrees), agrees
    against = findings(_rows(0.90, 0.95, 0.80, 0.60, 0.30))
    assert all(f.endswith("against the lecture's prediction") for f in against), against
    tied = findings(_rows(0.95, 0.948, 0.951, 0.5, 0.505))
    assert all("cannot tell them apart" in f for f in tied), tied


def test_serve_port_range(capsys, tmp_path):
    for port in ("99999", "-1", "65536"):
        one_line(cli(capsys, "serve", tmp_path, "--port", port), "--port must be 1-65535 (or 0 for any free port)")
    one_line(cli(capsys, "serve", tmp_path, "--workers", "-1"), "--workers must be at least 0, got -1")


def test_eval_refuses_flags_that_disagree_with_the_run(capsys, tiny_run):
    one_line(cli(capsys, "eval", tiny_run, "--dataset", "fashion-mnist"), "--dataset fashion-mnist disagrees")
    one_line(cli(capsys, "eval", tiny_run, "--test-subset", "50"), "--test-subset 50 disagrees", "--test-subset 100")
    one_line(cli(capsys, "eval", tiny_run, "--resize", "32"), "--resize 32 disagrees", "trained without --resize")
    r = cli(capsys, "eval", tiny_run, "--dataset", "mnist", "--test-subset", "100", "--json", "--device", "cpu")
    assert r.code == 0 and '"total": 100' in r.out
