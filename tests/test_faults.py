"""Faults and bad input, tried as a new user would (issue #13): every case ends in one clear
line (exit 2) or is survived, and nothing on disk is lost or corrupted.

Most cases call the CLI's ``main`` in this process (the same code path as ``zoo ...``); the
kill -9 cases, the bug-means-traceback case and torchrun run real subprocesses.
``FAULT_CASES`` at the bottom counts them for the README's Reliability section.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main
from zoo.engine.checkpoint import CHECKPOINT, PREVIOUS, atomic_torch_save, load_checkpoint
from zoo.engine.runs import resume_run, train_run
from zoo.errors import ZooInputError
from zoo.leaderboard import Leaderboard
from zoo.models.ngram import NGram

PROJECT = Path(__file__).resolve().parents[1]
# The independent model trained by gradient (the registry's entry is fitted in closed form,
# in one step): a run with several steps and checkpoints for a few seconds of CPU.
BY_GRADIENT = {"pseudo_count": None}
GRADIENT_ARGS = ("--set", "pseudo_count=null")
TINY = {"max_steps": 4, "checkpoint_every": 2, "device": "cpu", "eval_every": 10**6}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(capsys, *argv: str, match: str) -> str:
    """Run ``zoo argv``: exit 2 and exactly one line on stderr containing ``match``."""
    code, _, err = cli(capsys, *argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert match in err, err
    return err


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT), "OMP_NUM_THREADS": "1"}


def zoo_process(*argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", *argv],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 600.0) -> None:
    """Poll ``condition()`` until true; fail if the process ended or time ran out first."""
    t0 = time.monotonic()
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended first: {process.stderr.read()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            process.kill()
            pytest.fail("timed out waiting")
        time.sleep(0.01)


def kill9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


_STEPS: dict[tuple[Path, int, int], int] = {}


def checkpoint_step(run: Path) -> int:
    """The step of the run's last.pt (-1: none yet); read again only when the file changed,
    so polling does not take the CPU from the process it watches."""
    try:
        st = (run / CHECKPOINT).stat()
        key = (run, st.st_ino, st.st_mtime_ns)  # each save is a new file (os.replace)
        if key not in _STEPS:
            _STEPS[key] = int(torch.load(run / CHECKPOINT, weights_only=False)["step"])
        return _STEPS[key]
    except (FileNotFoundError, RuntimeError, EOFError):
        return -1


def metric_steps(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if '"kind": "step"' in line]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run)["model"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny finished run with last.pt (step 4) and prev.pt (step 4, the save before)."""
    return train_run(
        "independent_digits",
        run_dir=tmp_path_factory.mktemp("trained") / "run",
        hparams=BY_GRADIENT,
        train=TINY,
    )


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


# ---------------------------------------------------------------------- ARPA values
GOOD = (
    "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t-0.5\n-0.3\t</s>\n-0.3\ta\t0\n"
    "\n\\2-grams:\n-0.2\t<s> a\n\n\\end\\\n"
)
ARPA_CASES = {
    "nan": (GOOD.replace("-0.3\ta", "nan\ta"), r":8: the 1-gram 'a' has log10 p nan"),
    "inf": (GOOD.replace("-0.2\t<s> a", "inf\t<s> a"), r":11: the 2-gram '<s> a' has log10 p inf"),
    "p > 1": (GOOD.replace("-0.3\t</s>", "0.5\t</s>"), r":7: .* log10 p 0.5 \(p > 1\)"),
    "-inf unigram": (GOOD.replace("-0.3\ta", "-inf\ta"), r":8: .* log10 p -inf \(p = 0\)"),
    "nan back-off": (GOOD.replace("a\t0", "a\tnan"), r":8: .* back-off nan"),
}


@pytest.mark.parametrize("case", list(ARPA_CASES))
def test_arpa_with_impossible_probability_is_rejected_naming_file_and_line(tmp_path, case):
    text, pattern = ARPA_CASES[case]
    path = tmp_path / "lm.arpa"
    path.write_text(text)
    with pytest.raises(ZooInputError, match=r"lm\.arpa" + pattern):
        NGram.from_arpa(path)
    assert path.read_text() == text
    good = tmp_path / "good.arpa"
    good.write_text(GOOD.replace("-1\t<s>", "-inf\t<s>"))  # <s> is never predicted
    assert NGram.from_arpa(good).tables.sizes() == [3, 1]


# ---------------------------------------------------------------------- zoo eval
@pytest.mark.parametrize("n", ["-1", "0"])
def test_eval_with_max_examples_below_one_exits_2_and_stores_nothing(trained, tmp_path, capsys, n):
    db = tmp_path / "lb.db"
    one_line_error(
        capsys, "eval", str(trained), "--max-examples", n, "--db", str(db), match="max_examples"
    )
    assert not db.exists()


def test_iwae_k_on_an_exact_model_exits_2(trained, tmp_path, capsys):
    db = tmp_path / "lb.db"
    one_line_error(capsys, "eval", str(trained), "--iwae-k", "5", "--db", str(db), match="exact")
    assert not db.exists()


# ---------------------------------------------------------------------- failed starts
@pytest.mark.parametrize(
    "argv, match",
    [
        (["--device", "cuda:7"], "CUDA is not available"),
        (["--set", "nosuch=1"], "no hyper-parameter 'nosuch'; valid: shared: bool"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--data", "seq_len=3"], "no option 'seq_len'; valid: seed: int"),
        (["--data", "seed=abc"], "option seed='abc' must be int"),
        (["--checkpoint-minutes", "0"], "checkpoint_minutes must be > 0"),
    ],
)
def test_a_bad_start_leaves_no_run_folder(tmp_path, capsys, argv, match):
    run = tmp_path / "run"
    one_line_error(
        capsys, "train", "independent_digits", "--run-dir", str(run), "-q", *argv, match=match
    )
    assert not run.exists()


def test_a_hyperparameter_of_the_wrong_type_lists_the_valid_ones(tmp_path, capsys):
    run = tmp_path / "run"
    one_line_error(
        capsys, "train", "pixelcnn_digits", "--set", "channels=abc", "--run-dir", str(run),
        match="channels='abc' must be int; valid: channels: int, kernel: int, "
        "head_channels: int | None, blocks: int, head: str",
    )  # fmt: skip
    assert not run.exists()
    with pytest.raises(ZooInputError, match="no hyper-parameter 'nosuch'; valid: .*blocks: int"):
        zoo.create_model("pixelcnn_digits", nosuch=1)


def test_kill_before_the_first_checkpoint_resumes_from_step_0(tmp_path, capsys):
    run = tmp_path / "run"
    p = zoo_process("train", "independent_digits", *GRADIENT_ARGS, "--run-dir", str(run),
                    "--device", "cpu", "--max-steps", "100000", "-q")  # fmt: skip
    wait_for(lambda: (run / "config.json").exists(), p)
    kill9(p)
    (run / CHECKPOINT).unlink(missing_ok=True)  # if the kill came late, make it early
    (run / PREVIOUS).unlink(missing_ok=True)
    code, out, err = cli(capsys, "train", "--resume", str(run), "--max-steps", "3", "-q")
    assert code == 0, err
    assert load_checkpoint(run)["step"] == 3
    assert metric_steps(run) == [3]  # whatever the killed start logged is not kept


# ---------------------------------------------------------------------- kill -9 mid-run
def test_kill9_loses_at_most_one_wall_time_interval_and_resumes_to_the_same_weights(
    tmp_path, capsys
):
    """A fresh run checkpoints on the wall clock (every 0.1 s here, the step interval being
    out of reach); killed, resumed, killed during the resume and resumed again, it ends with
    the weights of an uninterrupted run, and metrics.jsonl lists each step once."""
    steps = "300"
    run = tmp_path / "run"
    common = ["--device", "cpu", "--max-steps", steps, "--checkpoint-every", "100000", "-q"]
    p = zoo_process("train", "independent_digits", *GRADIENT_ARGS, "--run-dir", str(run), *common,
                    "--checkpoint-minutes", "0.0015")  # fmt: skip
    wait_for(lambda: checkpoint_step(run) > 0, p)
    kill9(p)
    first = checkpoint_step(run)
    assert 0 < first < int(steps)  # saved by the clock, long before step 300 or 100000

    # killed again during the resume, right after it logged past its newest checkpoint
    p = zoo_process("train", "--resume", str(run), "-q")

    def logged_past_checkpoint() -> bool:
        step = checkpoint_step(run)
        return step > first and max(metric_steps(run), default=0) > step

    wait_for(logged_past_checkpoint, p)
    kill9(p)
    assert checkpoint_step(run) < int(steps)

    code, _, err = cli(capsys, "train", "--resume", str(run), "-q")
    assert code == 0, err
    logged = metric_steps(run)
    assert logged == sorted(set(logged)) and logged[-1] == int(steps)

    straight = train_run(
        "independent_digits",
        run_dir=tmp_path / "straight",
        hparams=BY_GRADIENT,
        train={"device": "cpu", "max_steps": int(steps), "checkpoint_minutes": None},
    )
    a, b = weights(straight), weights(run)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_wall_time_checkpoints_do_not_change_the_result(tmp_path):
    """Checkpoints on the clock (here after every step) leave the weights as they are, and
    resuming from any of them (here step 13 of 20) ends with the same weights."""
    base = {"device": "cpu", "max_steps": 20, "checkpoint_every": 10**6, "log_every": 1}
    never = train_run(
        "independent_digits",
        run_dir=tmp_path / "b",
        hparams=BY_GRADIENT,
        train={**base, "checkpoint_minutes": None},
    )
    snapshot = tmp_path / "step13.pt"

    def keep_step_13(event: dict) -> None:  # at step 14's record, last.pt holds step 13
        if event["kind"] == "step" and event["step"] == 14:
            shutil.copy(tmp_path / "a" / CHECKPOINT, snapshot)

    every_step = train_run(
        "independent_digits",
        run_dir=tmp_path / "a",
        hparams=BY_GRADIENT,
        train={**base, "checkpoint_minutes": 1e-9},
        callback=keep_step_13,
    )
    for key, value in weights(never).items():
        torch.testing.assert_close(weights(every_step)[key], value, rtol=0, atol=0)
    shutil.copy(snapshot, every_step / CHECKPOINT)
    (every_step / PREVIOUS).unlink()
    assert load_checkpoint(every_step)["step"] == 13
    resume_run(every_step)
    assert metric_steps(every_step) == list(range(1, 21))
    for key, value in weights(never).items():
        torch.testing.assert_close(weights(every_step)[key], value, rtol=0, atol=0)


# ---------------------------------------------------------------------- bad checkpoints
CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "random": lambda data: os.urandom(len(data)),
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_a_bad_last_checkpoint_falls_back_to_the_previous_one(run_copy, tmp_path, capsys, how):
    last = run_copy / CHECKPOINT
    last.write_bytes(CORRUPTIONS[how](last.read_bytes()))
    prev = (run_copy / PREVIOUS).read_bytes()
    with WarningsLogged() as seen:
        code, out, err = cli(capsys, "eval", str(run_copy), "--db", str(tmp_path / "lb.db"))
    assert code == 0, err
    assert seen().count("last.pt is unreadable") == 1 and "using" in seen()
    assert (run_copy / PREVIOUS).read_bytes() == prev  # the good one is left as it was


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_a_bad_last_checkpoint_does_not_push_out_the_good_previous_one(run_copy, how):
    last, prev = run_copy / CHECKPOINT, run_copy / PREVIOUS
    last.write_bytes(CORRUPTIONS[how](last.read_bytes()))
    good = prev.read_bytes()
    atomic_torch_save({"model": {}, "step": 5}, last, keep=prev)
    assert prev.read_bytes() == good and torch.load(last)["step"] == 5


def test_no_good_checkpoint_is_one_line_naming_the_file(run_copy, tmp_path, capsys):
    for name in (CHECKPOINT, PREVIOUS):
        (run_copy / name).write_bytes(b"not a checkpoint")
    db = tmp_path / "lb.db"
    one_line_error(capsys, "eval", str(run_copy), "--db", str(db), match=str(run_copy / CHECKPOINT))
    one_line_error(capsys, "train", "--resume", str(run_copy), "-q", match="prev.pt is unreadable")
    assert (run_copy / CHECKPOINT).read_bytes() == b"not a checkpoint"


class WarningsLogged:
    """Capture zoo's logging warnings (the CLI prints them on stderr)."""

    def __init__(self) -> None:
        self.records: list[str] = []
        self.handler = logging.Handler()
        self.handler.emit = lambda r: self.records.append(r.getMessage())
        self.logger = logging.getLogger("zoo")

    def __enter__(self):
        self.logger.addHandler(self.handler)
        return lambda: "\n".join(self.records)

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self.handler)


# ---------------------------------------------------------------------- --db
DB_CASES = {
    "garbage": lambda p: p.write_bytes(os.urandom(3000)),
    "text": lambda p: p.write_text("model,bits_per_dim\nfoo,1.0\n"),
    "directory": lambda p: p.mkdir(),
    "other sqlite": lambda p: sqlite3.connect(p).execute("CREATE TABLE t (x)").connection.close(),
}


def _snapshot(path: Path) -> bytes | list[str]:
    return sorted(os.listdir(path)) if path.is_dir() else path.read_bytes()


@pytest.mark.parametrize("case", list(DB_CASES))
def test_db_that_is_no_leaderboard_exits_2_and_is_left_unmodified(trained, tmp_path, capsys, case):
    db = tmp_path / "x.db"
    DB_CASES[case](db)
    before = _snapshot(db)
    one_line_error(capsys, "eval", str(trained), "--db", str(db), match=str(db))
    one_line_error(capsys, "leaderboard", "--db", str(db), match=str(db))
    assert _snapshot(db) == before
    assert sorted(os.listdir(tmp_path)) == ["x.db"]  # no -wal / -journal left beside it


def test_reading_a_missing_leaderboard_never_creates_it(tmp_path, capsys):
    db = tmp_path / "no" / "such" / "dir" / "x.sqlite"
    one_line_error(capsys, "leaderboard", "--db", str(db), match=f"no leaderboard at {db}")
    assert not (tmp_path / "no").exists()


# ---------------------------------------------------------------------- run folders
def test_probe_on_a_run_without_probe_points_exits_2(trained, capsys):
    one_line_error(capsys, "probe", str(trained), match="has no probe points")


CONFIG_CASES = {
    "not json": (lambda c: "{not json", "not valid JSON"),
    "no entry": (lambda c: json.dumps({k: v for k, v in c.items() if k != "entry"}), "'entry'"),
    "spec a list": (lambda c: json.dumps({**c, "spec": [1]}), "field 'spec' must be a dict"),
    "spec lacks shape": (
        lambda c: json.dumps({**c, "spec": {"modality": "image", "levels": 2}}),
        "field 'spec' is invalid",
    ),
    "unknown class": (lambda c: json.dumps({**c, "class": "zoo.models.nosuch:Nope"}), "'class'"),
    "format 1, entry gone": (
        lambda c: json.dumps(
            {k: v for k, v in c.items() if k not in ("class", "format_version")} | {"entry": "x"}
        ),
        "registry entry 'x' no longer exists",
    ),
    "train lr text": (
        lambda c: json.dumps({**c, "train": {**c["train"], "lr": "fast"}}),
        "field 'train': lr must be float",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_a_broken_config_json_is_one_line_naming_the_file_and_field(run_copy, capsys, case):
    path = run_copy / "config.json"
    broken, match = CONFIG_CASES[case]
    path.write_text(broken(json.loads(path.read_text())))
    before = {p.name: p.read_bytes() for p in (run_copy / "checkpoints").iterdir()}
    err = one_line_error(capsys, "train", "--resume", str(run_copy), "-q", match=match)
    assert str(path) in err
    if case != "train lr text":  # evaluation reads no training settings
        one_line_error(capsys, "eval", str(run_copy), match=str(path))
    assert {p.name: p.read_bytes() for p in (run_copy / "checkpoints").iterdir()} == before


def test_resume_with_fewer_steps_than_done_says_so(run_copy, capsys):
    before = (run_copy / CHECKPOINT).read_bytes()
    one_line_error(
        capsys, "train", "--resume", str(run_copy), "--max-steps", "2", "-q",
        match="has already trained 4 steps; --max-steps 2",
    )  # fmt: skip
    assert (run_copy / CHECKPOINT).read_bytes() == before


def test_list_treats_a_bare_word_as_a_substring(capsys):
    code, out, _ = cli(capsys, "list", "digits", "--json")
    names = json.loads(out)
    assert code == 0 and "independent_digits" in names and all("digits" in n for n in names)
    code, out, err = cli(capsys, "list", "nosuchmodel", "--json")
    assert code == 0 and json.loads(out) == [] and "no model matches 'nosuchmodel'" in err


def test_a_bug_inside_zoo_is_not_reported_as_bad_input(trained, tmp_path, monkeypatch):
    """Only ZooInputError means bad input (exit 2); a plain ValueError from inside zoo is a
    bug: ``main`` lets it through, so ``zoo`` ends with its traceback and exit 1."""

    def broken(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr("zoo.engine.runs.evaluate", broken)
    with pytest.raises(ValueError, match="an internal bug") as e:
        main(["eval", str(trained), "--db", str(tmp_path / "lb.db")])
    assert not isinstance(e.value, ZooInputError)


# ---------------------------------------------------------------------- the leaderboard rule
WRITER = """
import sys
from zoo.leaderboard import Leaderboard
w = int(sys.argv[2])
for i in range(5):
    Leaderboard(sys.argv[1]).add({
        "model": "m", "family": "f", "estimate": "exact", "dataset": "d", "split": "test",
        "run_dir": "/runs/r", "bits_per_dim": 100.0 * w + i,
        "created": f"2000-01-01T00:00:{59 - 5 * w - i:02d}",  # clocks that run backwards
    })
"""


def test_concurrent_evaluations_show_the_newest_row_by_id(tmp_path):
    db = tmp_path / "lb.db"
    Leaderboard(db)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(w)], env=env())
        for w in range(4)
    ]
    assert [p.wait(timeout=120) for p in writers] == [0] * 4
    every = Leaderboard(db).rows(latest=False)
    assert sorted(r["id"] for r in every) == list(range(1, 21))  # none lost, ids unique
    shown = Leaderboard(db, create=False).rows()
    newest = max(every, key=lambda r: r["id"])
    assert len(shown) == 1 and shown[0]["id"] == newest["id"]
    assert shown[0]["bits_per_dim"] == newest["bits_per_dim"]


# ---------------------------------------------------------------------- torchrun
def test_two_ranks_with_a_time_budget_agree_when_to_stop(tmp_path, free_port):
    """Two gloo processes, as torchrun starts them, on a time budget: each reads its own
    clock, the all-reduced flag makes them stop at the same step (else one would wait for
    the other's gradients until the timeout)."""
    run = tmp_path / "ddp"
    argv = ["train", "independent_digits", *GRADIENT_ARGS, "--max-steps", "1000000",
            "--max-minutes", "0.01",
            "--device", "cpu", "-q", "--run-dir", str(run)]  # fmt: skip
    ranks = [
        subprocess.Popen(
            [sys.executable, "-m", "zoo.cli", *argv],
            env={
                **env(),
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                "WORLD_SIZE": "2",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": free_port,
            },  # fmt: skip
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        for r in range(2)
    ]
    try:
        errors = [p.communicate(timeout=300)[1] for p in ranks]
    finally:
        for p in ranks:
            p.kill()
    assert [p.returncode for p in ranks] == [0, 0], errors
    state = load_checkpoint(run)
    assert 0 < state["step"] < 1_000_000  # the clock of one rank or the other stopped both
    assert math.isfinite(float(state["model"]["logits"].sum()))
