"""Red team, findings 4-7: every command bounded in time and memory, parsing included; sizes a file declares checked first.

The refusals run as real processes with their address space capped; each must be one line, exit status 2,
in under 10 s and with a bounded peak RSS (:meth:`tests.helpers.Measured.assert_refused`).
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from tests.helpers import SLOW, cli, run_symbp

TOWER6 = "((((((2*x)**64)**64)**64)**64)**64)**64"
TOWER5 = "(((((2*x)**64)**64)**64)**64)**64"
SIGMOIDS8 = "sigmoid(" * 8 + "x" + ")" * 8
SIGMOIDS2 = "sigmoid(sigmoid(x))"  # derived in a few seconds, but its 50 written-out components take minutes


def nested(template: str, inner: str, times: int) -> str:
    for _ in range(times):
        inner = template.format(inner)
    return inner


# --- 4. exponents bounded as values, before any work -----------------------------------------

POWERS = [
    ("derive", f"--sigma={TOWER6}"),
    ("derive", f"--sigma={TOWER5}"),
    ("derive", "--sigma=(x**64)**64**64"),
    ("derive", f"--g={TOWER6}"),
    ("emit", f"--sigma={TOWER6}"),
    ("check", f"--sigma={TOWER6}"),
]


@pytest.mark.parametrize(("command", "option"), [pytest.param(*case, marks=SLOW) for case in POWERS], ids=[f"{c} {o[:12]}" for c, o in POWERS])
def test_4_nested_powers_are_refused_while_parsing(tmp_path, command, option):
    extra = ["--param", "W1", "sum(h[i,m], i)"] if command == "check" else []
    run_symbp(command, option, *extra, cwd=tmp_path).assert_refused("exponent")
    assert list(tmp_path.iterdir()) == []


def test_4_nested_powers_are_refused_in_process(tmp_path):
    for command, option in POWERS[:4]:
        done = cli(command, option, cwd=tmp_path)
        assert done.returncode == 2 and "exponent" in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr


def test_4_nested_powers_in_a_checked_formula_are_refused(tmp_path):
    done = cli("check", "--param", "W1", "sum(((((h[i,m]**64)**64)**64)**64)**64, i)", cwd=tmp_path)
    assert done.returncode == 2 and "multiply to an exponent" in done.stderr and len(done.stderr.splitlines()) == 1


def exps(depth: int) -> str:
    return "exp(" * depth + "x" + ")" * depth


def test_4_a_function_whose_gradients_overflow_every_number_is_one_line(tmp_path):
    """exp nested 6 deep: its gradients beyond even SymPy's numbers at 0.1..0.9 (was a silent exit 1 from the forked command)."""
    done = cli("derive", f"--sigma={exps(6)}", "--formulas", cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "grows too fast" in done.stderr, done.stderr


@SLOW
def test_4_a_function_whose_gradients_overflow_floats_is_derived(tmp_path):
    """exp nested 4 deep reaches 10**52000 where the derivation compares its two routes: compared in SymPy's numbers."""
    done = cli("derive", f"--sigma={exps(4)}", "--formulas", cwd=tmp_path)
    assert done.returncode == 0 and "\\frac" in done.stdout, done.stderr
    run_symbp("derive", f"--sigma={exps(6)}", cwd=tmp_path).assert_refused("grows too fast")


# --- 5. check: nesting bounded as a value -----------------------------------------------------

FORMULAS = [nested("sum({}, i)", "h[i,m]", 10), "sum(" + nested("sigma_prime({})", "a[i,m]", 10) + ", i)"]


@pytest.mark.parametrize("formula", [pytest.param(f, marks=SLOW) for f in FORMULAS], ids=["10 sums", "10 sigma_prime"])
def test_5_deeply_nested_formulas_are_refused_by_check(tmp_path, formula):
    run_symbp("check", "--param", "W1", formula, cwd=tmp_path).assert_refused("nested more than 8 deep")


def test_5_deeply_nested_formulas_are_refused_in_process(tmp_path):
    for formula in FORMULAS:
        done = cli("check", "--param", "W1", formula, cwd=tmp_path)
        assert done.returncode == 2 and "nested more than 8 deep" in done.stderr, done.stderr


# --- 6. every stage of a command under one time limit -------------------------------------------

HEAVY = [
    ["derive", "--hidden", "5", "--inputs", "10", "--expand", f"--sigma={SIGMOIDS2}", f"--g={SIGMOIDS2}", "--time-limit", "6"],
    ["derive", "--hidden", "3,3,3", "--formulas", f"--sigma={SIGMOIDS8}", f"--g={SIGMOIDS8}"],
    ["emit", "--hidden", "3,3,3,3,3,3", f"--sigma={SIGMOIDS8}", f"--g={SIGMOIDS8}"],
    ["derive", "--hidden", "3,3,3", "--view", "matrix", "--formulas", f"--sigma={SIGMOIDS8}"],
]


@pytest.mark.parametrize("args", [pytest.param(args, marks=SLOW) for args in HEAVY], ids=["expand", "formulas", "emit", "matrix"])
def test_6_a_heavy_command_gives_up_at_its_time_limit(tmp_path, args):
    if "--time-limit" not in args:
        args = [*args, "--time-limit", "4"]
    limit = args[args.index("--time-limit") + 1]
    run_symbp(*args, cwd=tmp_path).assert_refused(f"did not finish within {limit} s")
    assert list(tmp_path.iterdir()) == []


def test_6_the_time_limit_is_one_line_in_process(tmp_path):
    done = cli("derive", "--hidden", "3,3,3", "--formulas", f"--sigma={SIGMOIDS8}", "--time-limit", "0.5", cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "within" in done.stderr, done.stderr


# --- 7. sizes declared by files, checked against memory before allocating --------------------------


def forged_npy(path, rows: int, stored_rows: int | None = None) -> None:
    """An .npy whose header declares ``rows`` rows of 11 columns; the file holds ``stored_rows`` (sparse: as many as declared)."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (rows, 11)}
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, header)
        if stored_rows is None:
            stream.truncate(stream.tell() + rows * 11 * 8)  # a sparse file as large as the header says
        else:
            stream.write(np.zeros((stored_rows, 11)).tobytes())


@pytest.mark.parametrize("stored", [3, None], ids=["short file", "sparse file of the declared size"])
def test_7_an_npy_header_declaring_a_trillion_rows_is_refused_before_reading(workdir, stored):
    rows = 10**12 if stored == 3 else 10**11  # 8.8 TB: a sparse file of that size is allowed by ext4 and tmpfs
    try:
        forged_npy(workdir / "huge.npy", rows, stored)
    except OSError as err:
        pytest.skip(f"this file system cannot hold a sparse file of {rows} rows: {err}")
    done = cli("train", "kernel.py", "--data", "huge.npy", cwd=workdir)
    fragment = "but the file holds 264 bytes for it" if stored == 3 else "more than this machine can give it"
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and fragment in done.stderr, done.stderr


def test_7_an_npz_member_declaring_more_than_it_stores_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.arange(4.0))
    with zipfile.ZipFile(tmp_path / "d.npz") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["X.npy"] = members["X.npy"].replace(b"(4, 2)", b"(10**9, 2)".replace(b"10**9", b"1000000000"), 1)
    with zipfile.ZipFile(tmp_path / "forged.npz", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    from symbp.data import load

    with pytest.raises(ValueError, match="declares shape"):
        load(tmp_path / "forged.npz")


@SLOW
def test_7_a_compressed_npz_that_expands_beyond_memory_is_refused(workdir):
    """30 MB on disk, 2.2 GB once read: refused from its headers, in a process that may map 1.5 GiB."""
    rows = 2_200_000_000 // (8 * 3)
    with zipfile.ZipFile(workdir / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, shape in (("X", (rows, 3)), ("y", (rows,))):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
                block = np.zeros(2**20).tobytes()
                left = int(np.prod(shape)) * 8
                while left > 0:
                    member.write(block[: min(left, len(block))])
                    left -= len(block)
    assert (workdir / "bomb.npz").stat().st_size < 40 * 2**20
    run_symbp("train", "kernel.py", "--data", "bomb.npz", cwd=workdir, address_space=int(1.5 * 2**30)).assert_refused(
        "more than this machine can give it"
    )


def test_7_the_sizes_a_kernel_declares_are_checked_before_its_parameters_exist():
    import types

    from symbp.training.fit import check_network_size

    huge = types.SimpleNamespace(M=100_000, D=100_000, BLOCK=8192)
    with pytest.raises(ValueError, match="more than this machine can give it"):
        check_network_size(huge, n=5, p=3, source="d.npz")
    check_network_size(types.SimpleNamespace(M=100, D=1, BLOCK=8192), n=5, p=3)


@SLOW
def test_7_a_network_too_large_for_memory_is_refused_before_allocating(tmp_path):
    done = cli("emit", "--hidden", "100000", "--outputs", "100000", "--out", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).random((5, 3)), y=np.random.default_rng(1).random((5, 100000)))
    done = cli("train", "tanh_identity_m100000_d100000.py", "--data", "d.npz", cwd=tmp_path)
    assert done.returncode == 2 and "more than this machine can give it" in done.stderr, done.stderr


@SLOW
def test_7_the_network_too_large_as_a_process(tmp_path):
    cli("emit", "--hidden", "100000", "--outputs", "100000", "--out", ".", cwd=tmp_path)
    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).random((5, 3)), y=np.random.default_rng(1).random((5, 100000)))
    run_symbp("train", "tanh_identity_m100000_d100000.py", "--data", "d.npz", cwd=tmp_path).assert_refused("more than this machine")
