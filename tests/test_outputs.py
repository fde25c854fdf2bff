"""Output files and the situations around them: modes (the umask for a new file, the old mode for
a replaced one), symlinks followed, devices and pipes written straight and never replaced,
SIGTERM and Ctrl-C leaving no temporary file, full devices, and inputs a user cannot reach.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from symsteer import cli
from symsteer.files import shown, write_output

ROOT = Path(cli.__file__).parent.parent
GOOD = {"layers.0.W": np.ones((2, 2)), "layers.0.V": np.ones((2, 2)), "layers.0.P": np.ones((2, 2))}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_outputs_honour_the_umask(mask, mode, tmp_path, umask):
    umask(mask)
    assert cli.run(["expand", "-o", str(tmp_path / "out.txt")]) == 0
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("args, name", [
    (["expand", "-o"], "out.txt"),
    (["report", "--no-claims", "-o"], "r.tex"),
    (["steer", "--h", "h.npy", "--q", "q.npy", "-o"], "s.npy"),
    (["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "--plot"], "p.png"),
])
def test_a_replaced_output_keeps_its_mode(args, name, tmp_path, umask, monkeypatch, capsys):
    if "--plot" in args:
        pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    np.save("h.npy", np.ones((2, 2)))
    np.save("q.npy", np.zeros((2, 2)))
    np.savez("g.npz", **GOOD)
    target = tmp_path / name
    target.write_text("old")
    target.chmod(0o640)
    before = target.stat().st_ino
    assert cli.run([*args, name]) == 0, capsys.readouterr().err
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_bytes() != b"old" and target.stat().st_ino != before  # replaced whole, not rewritten in place
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_pdf_output_mode(tmp_path, umask, monkeypatch):
    """report --pdf: the .pdf gets the umask's mode (0644 under 022) like every output."""
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex")
    monkeypatch.chdir(tmp_path)
    assert cli.run(["report", "--no-claims", "--layers", "1", "--pdf", "-o", "r.tex"]) == 0
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {"r.tex": 0o644, "r.pdf": 0o644}


def test_a_symlink_is_followed_and_kept(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "real.txt").chmod(0o600)
    (tmp_path / "link.txt").symlink_to("real.txt")
    assert cli.run(["expand", "-o", str(tmp_path / "link.txt")]) == 0
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text().startswith("steered output")
    assert stat.S_IMODE((tmp_path / "real.txt").stat().st_mode) == 0o600


def test_a_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "link.txt").symlink_to("made.txt")
    assert cli.run(["expand", "-o", str(tmp_path / "link.txt")]) == 0
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "made.txt").read_text().startswith("steered output")


def private_device(path: Path, minor: int) -> Path:
    """A character device of our own (1, 3 is null; 1, 7 is full): a regression that replaces
    devices then replaces this one, never the system's /dev/null or /dev/full."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    return path


def test_a_character_device_is_written_not_replaced(tmp_path):
    null = private_device(tmp_path / "null", 3)
    assert cli.run(["expand", "-o", str(null)]) == 0
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_a_fifo_is_written_straight(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()), daemon=True)
    reader.start()
    assert cli.run(["expand", "-o", str(pipe)]) == 0
    reader.join(30)
    assert got and got[0].startswith(b"steered output")
    assert stat.S_ISFIFO(pipe.lstat().st_mode) and [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_a_link_to_stdout_on_a_pipe_and_on_a_file(tmp_path):
    """``-o`` through a link to /proc/self/fd/1 (what /dev/stdout is; a private link, so that a
    regression cannot replace the system's): written straight, to a pipe and to a file alike,
    and the link stays."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    piped = subprocess.run([sys.executable, "-m", "symsteer", "expand", "-o", str(link)], env=_env(), capture_output=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout.startswith(b"steered output"), piped.stderr
    with open(tmp_path / "out.txt", "wb") as handle:
        handle.write(b"kept\n")
    with open(tmp_path / "out.txt", "ab") as handle:  # >>: appended, not replaced
        done = subprocess.run([sys.executable, "-m", "symsteer", "expand", "-o", str(link)], env=_env(), stdout=handle,
                              stderr=subprocess.PIPE, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt").read_bytes().startswith(b"kept\nsteered output")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "stdout"] and link.is_symlink()


def test_stdout_on_dev_full_is_an_environment_error(tmp_path):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "symsteer", "expand"], env=_env(), stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 5
    assert done.stderr.strip().splitlines() == ["error: cannot write the output (No space left on device)"]


def test_a_full_disk_during_a_write_leaves_nothing(tmp_path, monkeypatch, capsys):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    (tmp_path / "out.txt").write_text("keep me")
    assert cli.run(["expand", "-o", str(tmp_path / "out.txt")]) == 5
    assert "cannot be written (No space left on device); nothing was written there" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"] and (tmp_path / "out.txt").read_text() == "keep me"


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    real = os.replace

    def terminated(src, dst):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        real(src, dst)

    monkeypatch.setattr(os, "replace", terminated)
    assert cli.run(["expand", "-o", str(tmp_path / "out.txt")]) == 143
    assert "terminated (SIGTERM); no output was written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is not cli._on_sigterm  # run() puts the old handler back


def test_sigterm_from_outside(tmp_path):
    child = "import sys; from symsteer import cli; print('ready', flush=True); sys.exit(cli.run(['verify', '-o', 'out.txt']))"
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"  # imported: run() is about to install its handler
    time.sleep(2)  # inside the verification, which takes several seconds
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("timed_out", [False, True])
def test_report_pdf_interrupted_while_compiling_writes_nothing(timed_out, tmp_path, monkeypatch, capsys):
    import shutil

    import symsteer.report

    def stopped(*args, **kwargs):
        if timed_out:
            cli._TIMED_OUT.append(1.0)
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/pdflatex")
    monkeypatch.setattr(symsteer.report.subprocess, "run", stopped)
    monkeypatch.chdir(tmp_path)
    code = cli.run(["report", "--no-claims", "--layers", "1", "--pdf", "-o", "r.tex"])
    err = capsys.readouterr().err
    assert code == (1 if timed_out else 130)
    assert "no output was written" in err
    assert list(tmp_path.iterdir()) == []


def test_an_interruption_after_a_write_names_what_was_written(tmp_path, monkeypatch, capsys):
    import symsteer.effect

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(symsteer.effect.Effect, "plot", interrupted)
    monkeypatch.chdir(tmp_path)
    np.savez("g.npz", **GOOD)
    assert cli.run(["effect", "g.npz", "--steer-at", "0", "--s", "1,1", "-o", "e.txt", "--plot", "p.png"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted; wrote e.txt before that"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.txt", "g.npz"]


@pytest.mark.skipif(os.geteuid() != 0 or not hasattr(os, "setuid"), reason="needs root to run a child as another user")
def test_a_directory_the_user_cannot_enter(tmp_path):
    """As a user without the rights (nobody), an input in a root-only directory is exit 3."""
    base = Path(tempfile.mkdtemp(prefix="symsteer-perm-"))
    try:
        base.chmod(0o755)
        locked = base / "locked"
        locked.mkdir(mode=0o700)
        np.savez(locked / "m.npz", **GOOD)
        try:
            done = subprocess.run([sys.executable, "-m", "symsteer", "expand", "--model", str(locked / "m.npz")], cwd=base, env=_env(),
                                  capture_output=True, text=True, timeout=120, user=65534, group=65534)
        except PermissionError:
            pytest.skip("this Python cannot be run by nobody")
        if "ModuleNotFoundError" in done.stderr or "Permission denied: '/" in done.stderr:
            pytest.skip("the checkout is not readable by nobody")
        assert done.returncode == 3, done.stderr
        assert done.stderr.strip() == f"error: {locked / 'm.npz'}: permission denied; expected a model file (.npz, .safetensors, .pt/.pth/.bin)"
        out = subprocess.run([sys.executable, "-m", "symsteer", "expand", "-o", str(locked / "out.txt")], cwd=base, env=_env(),
                             capture_output=True, text=True, timeout=120, user=65534, group=65534)
        assert out.returncode == 2 and "cannot be written (Permission denied)" in out.stderr
    finally:
        import shutil

        shutil.rmtree(base)


def test_permission_denied_is_bad_input(tmp_path, monkeypatch, capsys):
    """The same mapping in-process (for when no other user can run the test): EACCES on open."""
    import errno

    real = os.open
    model = tmp_path / "locked" / "m.npz"

    def denied(path, *args, **kwargs):
        if str(path) == str(model):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    assert cli.run(["expand", "--model", str(model)]) == 3
    assert capsys.readouterr().err.strip() == f"error: {model}: permission denied; expected a model file (.npz, .safetensors, .pt/.pth/.bin)"


def test_many_ignore_globs_match_in_linear_time(tmp_path):
    """40 001 literal ignores and 1 000 globs against 2 000 arrays: the old pairwise fnmatch took
    over a minute; a set and one regex take well under the subprocess's limit."""
    arrays = {**GOOD, **{f"extra.{i}.weight": np.zeros(1) for i in range(2000)}}
    np.savez(tmp_path / "m.npz", **arrays)
    ignores = [f"extra.{i}.weight" for i in range(2000)] + [f"other.{i}" for i in range(38001)]
    globs = [f"nothing{i}.*" for i in range(1000)]
    (tmp_path / "k.toml").write_text('W = "layers.{l}.W"\nV = "layers.{l}.V"\nP = "layers.{l}.P"\nresidual = false\nignore = ['
                                     + ", ".join(f'"{g}"' for g in ignores + globs) + "]\n")
    done = subprocess.run([sys.executable, "-m", "symsteer", "effect", "m.npz", "--steer-at", "0", "--s", "1,1", "--keys", "k.toml"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_exact_numbers_over_4300_digits_print(tmp_path, monkeypatch, capsys):
    """A 14-layer plain stack's exact output has about 7 800 digits (Python refuses to print
    ints over 4 300 digits unless told)."""
    monkeypatch.chdir(tmp_path)
    np.savez("m.npz", **{f"layers.{l}.{k}": np.array([[3 if k == "P" else 1]]) for l in range(14) for k in "WVP"})
    assert cli.run(["expand", "--model", "m.npz", "--max-order", "1", "--s", "1", "--x", "2"]) == 0
    out = capsys.readouterr().out
    assert max(len(word) for word in out.replace("[", " ").replace("]", " ").split()) > 4300
    assert sys.get_int_max_str_digits() in (0, 4300)  # run() puts Python's limit back


def test_shown_escapes_what_a_terminal_would_act_on():
    assert shown("a\x1b[2Jb\u202ec\ufeff\n\udcff") == "a\\x1b[2Jb\\u202ec\\ufeff\\x0a\\udcff"
    assert shown("lаyers.0.W", name=True) == "l\\u0430yers.0.W" and shown("αβ.γ", name=True) == "αβ.γ"


def test_write_output_refuses_a_directory_and_a_socket(tmp_path):
    import socket

    from symsteer.errors import ShapeError

    with pytest.raises(ShapeError, match="is a directory"):
        write_output(tmp_path, "x")
    sock = socket.socket(socket.AF_UNIX)
    path = tmp_path / "s.sock"
    try:
        sock.bind(str(path))
        with pytest.raises(ShapeError, match="is a socket; expected a regular file, a character device or a pipe"):
            write_output(path, "x")
    finally:
        sock.close()
