"""Files in and out, defensively: inputs must be regular files and are read within a bound;
outputs replace regular files atomically (keeping their mode) and go straight to devices and
pipes; every path or name echoed in a message is escaped first.

A FIFO given as an input would block forever and ``/dev/zero`` would never end, so inputs
are opened without blocking and refused unless the open descriptor is a regular file (checked
on the descriptor, not the name, so nothing can be swapped in between).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import BinaryIO

from .errors import EnvironmentFault, InputFileError, ShapeError

__all__ = ["shown", "echo", "open_input", "read_input", "write_output", "written", "kind_of", "MAX_TEXT_BYTES"]

#: the largest text file read whole (a claim file, a key map)
MAX_TEXT_BYTES = 1 << 20

#: errno values that mean the machine, not the user's request, failed a write
_ENVIRONMENT = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.ENOMEM}

#: outputs this process has written, newest last (``run`` names them when it is interrupted)
_WRITTEN: list[str] = []


def shown(value: object, *, name: bool = False) -> str:
    """``value`` as text safe to print on one terminal line: control and format characters
    (escape sequences, newlines, a byte-order mark, bidi overrides) and undecodable bytes are
    written as ``\\x1b``, ``\\ufeff`` … With ``name=True`` (array keys, claim ids) a name that mixes
    ASCII letters with other letters has those escaped too, so a Cyrillic ``а`` in ``lаyers``
    cannot pass for a Latin one.

    >>> shown("a\\x1b[31mb"), shown("l\\u0430yers", name=True), shown("α_1", name=True)
    ('a\\\\x1b[31mb', 'l\\\\u0430yers', 'α_1')
    """
    text = str(value)
    mixed = name and any(c.isascii() and c.isalpha() for c in text) and any(not c.isascii() and c.isalpha() for c in text)
    out = []
    for c in text:
        category = unicodedata.category(c)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or (mixed and not c.isascii() and c.isalpha()):
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(c)
    return "".join(out)


def echo(value: object, limit: int = 60) -> str:
    """A user's value as a one-line message echoes it: ``repr``, lookalike letters escaped as in
    :func:`shown` (``name=True``), cut to about ``limit`` characters with ``…``.

    >>> echo("l\\u0430st"), echo("9" * 100)[-3:]
    ("'l\\\\u0430st'", '99…')
    """
    try:
        text = repr(value)
    except ValueError:  # an integer too long to write as digits is named by its size
        text = f"<an integer of {value.bit_length()} bits>" if isinstance(value, int) else f"<a {type(value).__name__}>"
    text = shown(text, name=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words."""
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return words
    return "not a regular file"


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, NotADirectoryError):
        return "not a path to a file (a part of it is not a directory)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return exc.strerror or exc.__class__.__name__


def open_input(path: str | Path, *, what: str) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file; otherwise :class:`InputFileError`
    saying what it is (missing, a directory, a FIFO, a device …) and that ``what`` was expected.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise InputFileError(f"{shown(path)}: is a directory; expected {what}") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened without a writer on some systems
            raise InputFileError(f"{shown(path)}: is not a regular file; expected {what}") from None
        raise InputFileError(f"{shown(path)}: {_reason(exc)}; expected {what}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputFileError(f"{shown(path)}: is {kind_of(mode)}, not a regular file; expected {what}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input(path: str | Path, *, what: str, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (refused, with its size, if larger)."""
    with open_input(path, what=what) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise InputFileError(f"{shown(path)}: {size} bytes; expected {what} of at most {limit} bytes")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise InputFileError(f"{shown(path)}: cannot be read ({_reason(exc)}); expected {what}") from None
    if len(data) > limit:  # the file grew while we read it
        raise InputFileError(f"{shown(path)}: more than {limit} bytes; expected {what} of at most {limit} bytes")
    return data


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_failed(path: str | Path, exc: OSError) -> Exception:
    if exc.errno in _ENVIRONMENT:
        return EnvironmentFault(f"output {shown(path)} cannot be written ({exc.strerror}); nothing was written there")
    return ShapeError(f"output {shown(path)} cannot be written ({exc.strerror or _reason(exc)}); expected a file in an existing, writable folder")


def write_output(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all.

    - a regular file (or a new name): a temporary file beside it, then a rename; a replaced
      file keeps its permission bits, a new one gets ``0666 & ~umask`` (0644 under umask 022);
    - a symbolic link: followed, like a shell's ``>``: the file it points to is replaced and
      the link stays;
    - a character device or a pipe (``/dev/stdout``, ``/dev/null``, ``>(…)``), or a path under
      ``/dev`` or ``/proc`` or linking there (a file some process holds open): written
      straight, never replaced;
    - a directory, a block device or a socket: refused.

    Ctrl-C or SIGTERM (which ``symsteer.cli.run`` turns into an interruption) leaves no
    temporary file behind.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:  # the name, links followed: /dev/stdout on a pipe has no real path to resolve
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _write_failed(path, exc) from None
    special, own = _open_descriptor(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ShapeError(f"output {shown(path)} is a directory; expected a file name")
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or (special and stat.S_ISREG(st.st_mode))):
        _write_straight(path, payload, own)
    elif st is not None and not stat.S_ISREG(st.st_mode):
        raise ShapeError(f"output {shown(path)} is {kind_of(st.st_mode)}; expected a regular file, a character device or a pipe")
    else:
        _replace(path, Path(os.path.realpath(path)), payload, st)
    _WRITTEN.append(str(path))


def _open_descriptor(path: str | Path) -> tuple[bool, int | None]:
    """Whether ``path`` is, or links through, a file already open in some process
    (``/dev/stdout`` → ``/proc/self/fd/1``, ``/dev/fd/3``): such a file is written straight, as
    the shell's ``>>`` or a pipeline expects, never replaced; and which descriptor of this
    process it is, if it is one (written through that descriptor, sharing its offset and flags)."""
    here = os.path.abspath(path)
    own = re.compile(rf"^/(?:proc/(?:self|thread-self|{os.getpid()})|dev)/fd/(\d+)$")
    special = False
    for _ in range(40):  # the kernel's own limit on links followed
        if Path(here).parts[1:2] in (("dev",), ("proc",)):
            special = True
            m = own.match(here)
            if m:
                return True, int(m.group(1))
        try:
            target = os.readlink(here)
        except OSError:  # not a link (or gone): the end of the chain
            return special, None
        here = os.path.normpath(os.path.join(os.path.dirname(here), target))
    return special, None


def _write_straight(path: str | Path, payload: bytes, fd: int | None) -> None:
    try:
        if fd is not None:  # one of our own descriptors (/dev/stdout): write through it, after what Python buffered
            if fd in (1, 2):
                (sys.stdout if fd == 1 else sys.stderr).flush()
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            return
        handle_fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(handle_fd, "wb") as handle:
            handle.write(payload)
    except OSError as exc:
        raise _write_failed(path, exc) from None


def _replace(path: str | Path, target: Path, payload: bytes, old: os.stat_result | None) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # no such folder, no permission, read-only file system
        raise _write_failed(path, exc) from None
    try:
        try:
            if old is None:
                os.fchmod(fd, 0o666 & ~_umask())
            else:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
                if os.geteuid() == 0 and (old.st_uid, old.st_gid) != (0, 0):
                    os.fchown(fd, old.st_uid, old.st_gid)
            with os.fdopen(fd, "wb") as handle:
                fd = -1
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise _write_failed(path, exc) from None
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise


def written() -> list[str]:
    """The outputs written so far in this process (names as given)."""
    return list(_WRITTEN)


def forget_written() -> None:
    """Start a new list of written outputs (``symsteer.cli.run`` calls it per command)."""
    _WRITTEN.clear()
