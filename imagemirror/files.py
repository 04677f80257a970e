"""Which files to scan; reading them strictly; writing them atomically.

Nothing here prints: :func:`discover` hands its notes (links not followed, special files
skipped) to the caller, who shows them (``imagemirror.output``).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .config import Settings
from .errors import FileError
from .model import FileResult
from .sources import detect

VALUES_NAME = re.compile(r"(?:values\.ya?ml|values-.+\.ya?ml|.+-values\.ya?ml|.+\.values\.ya?ml)\Z")
SKIP_DIRS = frozenset({".git", ".hg", ".svn"})


def display_name(path: Path, cwd: str | None = None) -> str:
    """The path as the user would write it: relative to the current folder when inside it.

    ``cwd``: the current folder, when the caller already knows it (saves a system call).
    """
    try:
        if cwd is None:
            rel = os.path.relpath(path)
        else:
            rel = os.path.relpath(os.path.join(cwd, path), cwd)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def glob_regex(pattern: str) -> re.Pattern:
    """A gitignore-like glob: ``**`` spans folders, ``*`` and ``?`` stay within one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _excluded(path: Path, roots: list[Path], patterns: list[re.Pattern]) -> bool:
    if not patterns:
        return False
    for root in roots:
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            continue
        if any(p.match(rel) for p in patterns):
            return True
    return False


def discover(
    paths, settings: Settings, notes: list[str] | None = None
) -> tuple[list[tuple[Path, str]], list[FileResult]]:
    """Files to scan (``(path, display name)``) and problems met while looking; what is
    worth telling but no problem (a link not followed) is appended to ``notes``.

    A directory is searched recursively for values files (``values.yaml``,
    ``values-*.yaml``, ``*-values.yaml``, ``*.values.yaml``), skipping ``.git`` and
    excluded globs; symbolic links are not followed.  A file named explicitly is
    scanned whatever its name.
    """
    patterns = [glob_regex(p) for p in settings.exclude]
    notes = [] if notes is None else notes
    found: list[tuple[Path, str]] = []
    problems: list[FileResult] = []
    seen: set[str] = set()
    base_roots = [settings.path.parent.resolve()] if settings.path else []
    for given in paths:
        given = Path(given)
        shown = display_name(given)
        if given.is_symlink():
            problems.append(FileResult(shown, error=FileError(shown, "is a symbolic link; not followed (name its target)")))
            continue
        if not given.exists():
            problems.append(FileResult(shown, error=FileError(shown, "no such file or directory")))
            continue
        if given.is_file():
            key = str(given.resolve())
            if key not in seen:
                seen.add(key)
                found.append((given, shown))
            continue
        real = given.resolve()
        roots = base_roots + [real]
        cwd = os.getcwd()
        for folder, rel, name in _values_files(str(given), "", notes, False):
            path = Path(folder, name)
            # nothing below ``given`` is a link (links are never followed), so the
            # resolved path is the resolved root plus the relative path
            resolved = real / rel / name
            if _excluded(resolved, roots, patterns):
                continue
            key = str(resolved)
            if key in seen:
                continue
            seen.add(key)
            found.append((path, display_name(path, cwd)))
    return found, problems


def _values_files(folder: str, rel: str, notes: list[str], in_chart: bool):
    """``(folder, relative folder, name)`` of the values files under ``folder``: its own
    files sorted by name, then each sub-folder's in name order (``os.walk``'s order);
    ``.git`` & co. and symbolic links (to files or folders) are skipped, unreadable
    folders ignored.  One ``scandir`` per folder, no ``stat`` per file.  Other YAML files
    are taken when their content says they hold images (``sources.detect``: manifests,
    kustomizations, helmfiles), except inside a chart (a folder with ``Chart.yaml``)."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    in_chart = in_chart or any(e.name == "Chart.yaml" for e in entries)
    subfolders = []
    for entry in entries:
        try:
            if entry.is_symlink():
                # never followed: it could point outside the tree or loop -- and say so
                # when it looks like something we would have read (a values file, a folder)
                if VALUES_NAME.match(entry.name) or _is_dir_quietly(entry):
                    notes.append(f"{os.path.join(folder, entry.name)}: symbolic link, not followed")
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            # a FIFO, socket or device named values.yaml is not read (a FIFO would block)
            is_file = not is_dir and entry.is_file(follow_symlinks=False)
        except OSError:
            is_dir = is_file = False
        if is_dir:
            if entry.name not in SKIP_DIRS:
                subfolders.append(entry.name)
        elif is_file and VALUES_NAME.match(entry.name):
            yield folder, rel, entry.name
        elif VALUES_NAME.match(entry.name):
            notes.append(f"{os.path.join(folder, entry.name)}: not a regular file, skipped")
        elif is_file and not in_chart and detect.candidate(entry.name) and (
            detect.by_name(entry.name, folder) or detect.is_manifest(entry.path)
        ):
            yield folder, rel, entry.name
    for name in subfolders:
        yield from _values_files(os.path.join(folder, name), os.path.join(rel, name) if rel else name, notes, in_chart)


def _is_dir_quietly(entry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a loop or a dangling link
        return False


def read_bytes(path: Path, display: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except IsADirectoryError:
        raise FileError(display, "is a directory") from None
    except OSError as exc:
        raise FileError(display, f"cannot read: {exc.strerror or exc}") from None


def decode(data: bytes, display: str) -> str:
    """Strict UTF-8 (a BOM is kept in the text); binary and undecodable files are errors."""
    if b"\x00" in data:
        raise FileError(display, "binary file (contains NUL bytes); not YAML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FileError(display, f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded", line, column) from None


def read_text(path: Path, display: str) -> str:
    return decode(read_bytes(path, display), display)


def write_atomic(path: Path, data: bytes, original: bytes, display: str) -> None:
    """Replace ``path`` with ``data`` unless it no longer holds ``original``.

    The new content goes to a temporary file in the same folder (so the rename is
    atomic), with the original's permission bits, fsynced, then renamed over the file.
    A reader sees either the old or the new bytes, never a mix, even if we are killed.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FileError(display, f"cannot stat: {exc.strerror or exc}") from None
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise FileError(display, "read-only file; not rewritten")
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    try:
        import tempfile  # here, not at start-up: `check` and `list` never write (4 ms of imports)

        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".imagemirror-tmp", dir=folder)
    except OSError as exc:
        raise FileError(display, f"cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if os.geteuid() == 0:
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass
        # the file must still hold what we read: never overwrite someone else's change
        if read_bytes(path, display) != original:
            raise FileError(display, "changed on disk while being rewritten; left as it is")
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise FileError(display, f"cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


class BackgroundWrites:
    """Atomic writes on a few threads: each waits on ``fsync`` far longer than it computes,
    so the writes of one batch overlap each other and the parsing of the next files.

    ``submit`` returns at once; ``wait`` returns ``{key: FileError}`` for the writes that
    failed.  Every write is still :func:`write_atomic` (temporary file, fsync, rename).
    """

    def __init__(self, threads: int = 4):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="imagemirror-write")
        self._pending: list = []

    def submit(self, key, path: Path, data: bytes, original: bytes, display: str) -> None:
        self._pending.append((key, self._pool.submit(write_atomic, path, data, original, display)))

    def wait(self) -> dict:
        failed = {}
        try:
            for key, future in self._pending:
                try:
                    future.result()
                except FileError as exc:
                    failed[key] = exc
        finally:
            self._pool.shutdown(wait=True)
            self._pending = []
        return failed
