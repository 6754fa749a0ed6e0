"""Tests for symbp/files.py: a write killed at any moment never leaves a truncated file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from symbp.errors import UserError
from symbp.files import write_bytes_atomic, write_text_atomic

# A process that writes ever newer versions of one .npz to the same path, forever.
# It prints "w N" just before writing version N and "N" once that write has
# returned.  "naive" writes in place, as np.savez(path) does: the harness must
# catch that.  symbp.files is imported without symbp/__init__.py, which loads
# SymPy and would add half a second to every round.
WRITER = textwrap.dedent(
    f"""
    import io, sys, types
    import numpy as np

    package = types.ModuleType("symbp")
    package.__path__ = [{str(Path(__file__).resolve().parent.parent / "symbp")!r}]
    sys.modules["symbp"] = package
    from symbp.files import write_bytes_atomic

    target, mode, size, version = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    while True:
        version += 1
        arrays = {{"version": np.array(version), "data": np.full(size, float(version))}}
        if mode == "atomic":
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            print("w", version, flush=True)
            write_bytes_atomic(target, buffer.getvalue())
        else:
            print("w", version, flush=True)
            np.savez(target, **arrays)
        print(version, flush=True)
    """
)

SIZE = 500_000  # float64: a 4 MB file


@dataclass
class Kills:
    """What the harness saw after each SIGKILL."""

    rounds: int = 0
    corrupt: list[str] | None = None
    partial_counts: list[int] | None = None
    versions: list[int | None] | None = None


def partials(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.partial"))


def read_version(target: Path) -> int:
    """The version in a complete file, or an exception for an incomplete or mixed one."""
    with np.load(target, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["data", "version"], npz.files
        version, data = int(npz["version"]), npz["data"]
    assert data.shape == (SIZE,), data.shape
    assert (data == version).all(), "data from two versions"
    return version


def kill_writer_repeatedly(folder: Path, mode: str, rounds: int, seed: int, stop_at_corruption: bool = False) -> Kills:
    """Start the writer, SIGKILL it at a random moment, check the target; repeat.

    Even rounds kill at a moment drawn uniformly from 0–80 ms after the first
    complete write; odd rounds aim at a write in progress, 0–4 ms after a
    write begins (a write of 4 MB with fsync takes some milliseconds).
    """
    target = folder / "target.npz"
    chooser = random.Random(seed)
    seen = Kills(corrupt=[], partial_counts=[], versions=[])
    confirmed = 0  # the newest version a writer reported as written
    for round_ in range(rounds):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), mode, str(SIZE), str(confirmed)], stdout=subprocess.PIPE, text=True
        )
        lines = []
        while not (lines and lines[-1].isdigit()):  # one whole write done: the loop is running
            lines.append(process.stdout.readline().strip())
            assert lines[-1], "the writer stopped before writing"
        if round_ % 2:
            while not lines[-1].startswith("w"):
                lines.append(process.stdout.readline().strip())
            time.sleep(chooser.uniform(0.0, 0.004))
        else:
            time.sleep(chooser.uniform(0.0, 0.08))
        process.send_signal(signal.SIGKILL)
        lines += process.communicate(timeout=60)[0].split("\n")
        assert process.returncode == -signal.SIGKILL
        reported = [int(line) for line in lines if line.isdigit()]
        seen.rounds += 1
        seen.partial_counts.append(len(partials(folder)))
        try:
            version = read_version(target)
        except Exception as err:  # noqa: BLE001 - any failure to read is what we are looking for
            seen.corrupt.append(f"{type(err).__name__}: {err}")
            seen.versions.append(None)
            if stop_at_corruption:
                break
            continue
        seen.versions.append(version)
        # Written and reported, or written and killed before the report: nothing older, nothing newer.
        assert reported[-1] <= version <= reported[-1] + 1, (reported[-1], version)
        confirmed = version
    return seen


@pytest.mark.slow
def test_sigkill_during_atomic_writes_never_leaves_a_truncated_file(tmp_path):
    seen = kill_writer_repeatedly(tmp_path, "atomic", rounds=25, seed=20240601)
    assert seen.rounds == 25
    assert seen.corrupt == []
    assert all(v is not None for v in seen.versions)
    assert seen.versions == sorted(seen.versions)  # always the newest complete version
    # A kill mid-write leaves that write's temporary file, and only that one: the next
    # writer removes its predecessors' leftovers before writing.
    assert max(seen.partial_counts) <= 1
    assert sum(seen.partial_counts) >= 3, "the kills never hit a write in progress: the test proved nothing"
    write_bytes_atomic(tmp_path / "target.npz", b"x")  # the next write cleans up
    assert partials(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target.npz"]


@pytest.mark.slow
def test_the_harness_catches_a_writer_that_is_not_atomic(tmp_path):
    seen = kill_writer_repeatedly(tmp_path, "naive", rounds=25, seed=7, stop_at_corruption=True)
    assert seen.corrupt, f"{seen.rounds} kills of an in-place writer never found a truncated file"


def test_write_replaces_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    assert write_bytes_atomic(target, b"one") == target
    assert write_text_atomic(target, "twö") == target
    assert target.read_bytes() == "twö".encode()
    assert list(tmp_path.iterdir()) == [target]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.skipif(os.name != "posix", reason="leftovers are recognised by PID on POSIX only")
def test_next_write_removes_leftovers_of_dead_writers_only(tmp_path):
    dead, alive = dead_pid(), os.getppid()
    leftovers = {
        "dead": tmp_path / f".out.npz.{dead}.abc123.partial",
        "alive": tmp_path / f".out.npz.{alive}.def456.partial",
        "ours": tmp_path / f".out.npz.{os.getpid()}.ghi789.partial",  # perhaps another thread's write
        "other target": tmp_path / f".other.npz.{dead}.jkl012.partial",
        "unrelated": tmp_path / f".out.npz.{dead}.mno345.tmp",
    }
    for path in leftovers.values():
        path.write_bytes(b"half a file")
    write_bytes_atomic(tmp_path / "out.npz", b"complete")
    assert not leftovers["dead"].exists()
    assert all(path.exists() for what, path in leftovers.items() if what != "dead")
    assert (tmp_path / "out.npz").read_bytes() == b"complete"


def test_write_to_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_bytes_atomic(tmp_path / "no" / "out.bin", b"x")


def test_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(UserError, match="cannot write .*No space left on device"):
        write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_npz_written_atomically_is_a_valid_zip(tmp_path):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, a=np.arange(3.0))
    path = write_bytes_atomic(tmp_path / "a.npz", buffer.getvalue())
    assert zipfile.is_zipfile(path)


def test_written_files_get_the_usual_mode(tmp_path) -> None:
    import os
    import stat

    from symbp.files import write_text_atomic

    umask = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "out.txt", "hello\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# --- several files as one unit; outputs checked before any work ------------------------------


def test_a_unit_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from symbp import files

    (tmp_path / "a.txt").write_bytes(b"old a")
    (tmp_path / "b.txt").write_bytes(b"old b")
    real = files._write_aside

    def full_disk_on_b(target, data):
        if target.name == "b.txt":
            raise UserError(f"cannot write {target}: No space left on device")
        return real(target, data)

    monkeypatch.setattr(files, "_write_aside", full_disk_on_b)
    with pytest.raises(UserError, match="No space left"):
        files.write_files_atomic({tmp_path / "a.txt": b"new a", tmp_path / "b.txt": b"new b"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    assert (tmp_path / "a.txt").read_bytes() == b"old a" and (tmp_path / "b.txt").read_bytes() == b"old b"
    monkeypatch.undo()
    files.write_files_atomic({tmp_path / "a.txt": b"new a", tmp_path / "b.txt": b"new b"})
    assert (tmp_path / "a.txt").read_bytes() == b"new a" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_a_planted_journal_renames_nothing_but_a_writers_own_temporary_files(tmp_path):
    import json

    from symbp.files import write_bytes_atomic

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"mine")
    (tmp_path / "elsewhere.partial").write_bytes(b"planted")
    (tmp_path / ".symbp-commit.999999.x.journal").write_text(json.dumps([[str(tmp_path / "elsewhere.partial"), str(victim)]]))
    write_bytes_atomic(tmp_path / "other.txt", b"x")
    assert victim.read_bytes() == b"mine"


@pytest.mark.parametrize(
    ("outputs", "inputs", "fragment"),
    [
        ({"--checkpoint": "d.csv"}, {"--data": "d.csv"}, "is the same file as --data d.csv"),
        ({"-o": "./d.csv"}, {"--data": "d.csv"}, "writing it would destroy that input"),
        ({"-o": "r.npz", "--checkpoint": "r.npz"}, {}, "are the same file"),
        ({"-o": "sub"}, {}, "is a folder"),
        ({"-o": "missing/r"}, {}, "does not exist"),
    ],
)
def test_outputs_that_destroy_inputs_or_each_other_are_refused(tmp_path, monkeypatch, outputs, inputs, fragment):
    from symbp.files import check_outputs

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,y\n1,2\n")
    (tmp_path / "sub").mkdir()
    with pytest.raises(UserError, match=fragment):
        check_outputs(outputs, inputs)
    check_outputs({"--checkpoint": "d.csv"}, {"--resume": "d.csv"}, frozenset({("--checkpoint", "--resume")}))


def test_a_hard_link_to_an_input_is_the_same_file(tmp_path):
    from symbp.files import check_outputs

    (tmp_path / "d.csv").write_text("a,y\n1,2\n")
    os.link(tmp_path / "d.csv", tmp_path / "r.params.npz")
    with pytest.raises(UserError, match="same file"):
        check_outputs({"-o": tmp_path / "r.params.npz"}, {"--data": tmp_path / "d.csv"})


def test_make_folder_says_why_it_cannot(tmp_path):
    from symbp.files import make_folder

    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="it is a file"):
        make_folder(tmp_path / "file", "the kernel")
    with pytest.raises(UserError, match="cannot create the folder"):
        make_folder(tmp_path / "file" / "sub", "the kernel")
    assert make_folder(tmp_path / "a" / "b", "the kernel").is_dir()
