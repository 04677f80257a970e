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

VALUES_NAME = re.compile(r"(?:values\.ya?ml|values[-.].+\.ya?ml|.+-values\.ya?ml|.+\.values\.ya?ml)\Z")
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


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def discover(
    paths, settings: Settings, notes: list[str] | None = None
) -> tuple[list[tuple[Path, str]], list[FileResult]]:
    """Files to scan (``(path, display name)``) and problems met while looking; what is
    worth telling but no problem (a link not followed) is appended to ``notes``.

    A directory is searched recursively for values files (``values.yaml``,
    ``values-*.yaml``, ``*-values.yaml``, ``*.values.yaml``), skipping ``.git`` and
    excluded globs.  A symbolic link (to a file or a folder) is followed when its target
    is inside the tree (the scanned folder, or the folder of ``.imagemirror.yaml``); the
    target is what is read and written, once however many links lead to it.  A link out of
    the tree, a dangling link and a link loop are not followed, with one line each on
    stderr.  A file named explicitly is scanned whatever its name (a link only when its
    target is inside the tree).
    """
    patterns = [glob_regex(p) for p in settings.exclude]
    notes = [] if notes is None else notes
    _forget_reads()
    found: list[tuple[Path, str]] = []
    problems: list[FileResult] = []
    seen: set[str] = set()
    base_roots = [settings.path.parent.resolve()] if settings.path else []
    cwd = os.getcwd()
    for given in paths:
        given = Path(given)
        shown = display_name(given)
        if given.is_symlink():
            target = os.path.realpath(given)
            trees = [str(r) for r in base_roots] + [cwd]
            if not os.path.exists(target):
                problems.append(FileResult(shown, error=FileError(shown, "is a dangling symbolic link")))
                continue
            if not _inside(target, trees):
                problems.append(
                    FileResult(
                        shown,
                        error=FileError(shown, "is a symbolic link out of the tree; not followed (name its target)"),
                    )
                )
                continue
            given = Path(target)
            shown = display_name(given)
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
        trees = [str(r) for r in roots]
        real_s, given_s = str(real), str(given)
        folders: dict[tuple[str, str], tuple[Path, str | None]] = {}
        try:
            given_rel = os.path.relpath(os.path.join(cwd, given_s), cwd)
        except ValueError:
            given_rel = None
        prefix = given_s if given_s.endswith(os.sep) else given_s + os.sep
        for folder, real_folder, name, head in _values_files(given_s, real_s, trees, set(), notes, False):
            key = os.path.join(real_folder, name)  # str(Path(real_folder, name)): both are normal
            if patterns and (
                _excluded(Path(key), roots, patterns) or _excluded(Path(folder, name).absolute(), roots, patterns)
            ):
                continue
            if key in seen:
                continue
            seen.add(key)
            # once per folder: where its files are read from and how they are shown
            here = folders.get((folder, real_folder))
            if here is None:
                # below ``given``: its path joined by names from scandir (never "." or ".."),
                # so relative paths are string work, not relpath's
                if folder == given_s:
                    inside = "."
                elif folder.startswith(prefix):
                    inside = folder[len(prefix) :]
                else:
                    inside = os.path.relpath(folder, given_s)
                if real_folder != os.path.join(real_s, inside):
                    parent = Path(real_folder)  # reached through a link: read and write the target itself
                    rel = _relative(parent, cwd)
                else:
                    parent = Path(folder)
                    if given_rel is None or given_rel.startswith("..") or inside.startswith(".."):
                        rel = _relative(parent, cwd)
                    elif inside == ".":
                        rel = given_rel
                    else:
                        rel = inside if given_rel == "." else os.path.join(given_rel, inside)
                here = folders[(folder, real_folder)] = (parent, rel)
            parent, rel = here
            path = parent / name
            # display_name(path, cwd), from the folder's relative path
            shown = None if rel is None else (name if rel == "." else f"{rel}/{name}")
            found.append((path, str(path) if shown is None or shown.startswith("..") else shown))
            if head is not None:
                _keep(str(path), head)
    return found, problems


def _relative(path: Path, cwd: str) -> str | None:
    try:
        return os.path.relpath(os.path.join(cwd, path), cwd)
    except ValueError:
        return None


def _values_files(folder: str, real: str, trees: list[str], active: set[str], notes: list[str], in_chart: bool):
    """``(folder, its real path, name)`` of the values files under ``folder``: its own
    files sorted by name, then each sub-folder's in name order (``os.walk``'s order);
    ``.git`` & co. skipped, unreadable folders ignored.  One ``scandir`` per folder, no
    ``stat`` per file but for links.  Links are followed inside ``trees`` only; ``active``
    holds the real folders being walked (a link back into one of them is a loop).  Other
    YAML files are taken when their content says they hold images (``sources.detect``:
    manifests, kustomizations, helmfiles), except inside a chart (a folder with ``Chart.yaml``)."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    active = active | {real}
    in_chart = in_chart or any(e.name == "Chart.yaml" for e in entries)
    subfolders = []
    for entry in entries:
        try:
            if entry.is_symlink():
                shown = os.path.join(folder, entry.name)
                target = os.path.realpath(entry.path)
                try:
                    st = os.stat(entry.path)
                except OSError:
                    if _is_loop(entry.path):
                        notes.append(f"{shown}: symbolic link loop, not followed")
                    elif VALUES_NAME.match(entry.name):
                        notes.append(f"{shown}: dangling symbolic link, not followed")
                    continue
                if not _inside(target, trees):
                    if VALUES_NAME.match(entry.name) or stat.S_ISDIR(st.st_mode):
                        notes.append(f"{shown}: symbolic link out of the tree ({target}), not followed")
                    continue
                if stat.S_ISDIR(st.st_mode):
                    if entry.name in SKIP_DIRS:
                        continue
                    if any(target == a or a.startswith(target.rstrip(os.sep) + os.sep) for a in active):
                        notes.append(f"{shown}: symbolic link loop (to {target}), not followed")
                        continue
                    subfolders.append((entry.name, target))
                elif stat.S_ISREG(st.st_mode) and VALUES_NAME.match(entry.name):
                    yield folder, os.path.dirname(target), os.path.basename(target), None
                elif VALUES_NAME.match(entry.name):
                    notes.append(f"{shown}: not a regular file, skipped")
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            # a FIFO, socket or device named values.yaml is not read (a FIFO would block)
            is_file = not is_dir and entry.is_file(follow_symlinks=False)
        except OSError:
            is_dir = is_file = False
        if is_dir:
            if entry.name not in SKIP_DIRS:
                subfolders.append((entry.name, os.path.join(real, entry.name)))
        elif VALUES_NAME.match(entry.name):
            if is_file:
                yield folder, real, entry.name, None
            else:
                notes.append(f"{os.path.join(folder, entry.name)}: not a regular file, skipped")
        elif is_file and not in_chart and detect.candidate(entry.name):
            if detect.by_name(entry.name, folder):
                yield folder, real, entry.name, None
            else:
                # the head read to tell a manifest is, for a small file, the whole file:
                # kept for the scan (``read_text``), which then does not read it again
                manifest, whole = detect.head(entry.path)
                if manifest:
                    yield folder, real, entry.name, whole
    for name, sub_real in subfolders:
        yield from _values_files(os.path.join(folder, name), sub_real, trees, active, notes, in_chart)


def _is_loop(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        import errno

        return exc.errno == errno.ELOOP
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


# Small manifests' bytes read by the latest ``discover`` (to tell them by content), until the
# scan reads them: one read per file, not two.  Bounded; a write (``write_atomic``) drops its file.
_READ: dict[str, bytes] = {}
_READ_MAX = 32 << 20
_read_total = 0


def _forget_reads() -> None:
    global _read_total
    _READ.clear()
    _read_total = 0


def _keep(path: str, data: bytes) -> None:
    global _read_total
    if _read_total + len(data) <= _READ_MAX:
        _READ[path] = data
        _read_total += len(data)


def read_text(path: Path, display: str) -> str:
    data = _READ.pop(str(path), None) if _READ else None
    return decode(read_bytes(path, display) if data is None else data, display)


def write_atomic(path: Path, data: bytes, original: bytes, display: str) -> None:
    """Replace ``path`` with ``data`` unless it no longer holds ``original``.

    The new content goes to a temporary file in the same folder (so the rename is
    atomic), with the original's owner, group, permission bits and extended attributes
    (ACLs included), fsynced, then renamed over the file.  A reader sees either the old
    or the new bytes, never a mix, even if we are killed.  What a rename cannot keep is
    refused, the file left as it is: a file with several hard links (the rename would
    split them), an owner or group we may not give the new file, an extended attribute
    we cannot copy.
    """
    _READ.pop(str(path), None)
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise FileError(display, f"cannot stat: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise FileError(display, "is a symbolic link; not rewritten (name its target)")
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise FileError(display, "read-only file; not rewritten")
    if st.st_nlink > 1:
        raise FileError(
            display,
            f"has {st.st_nlink} hard links: rewriting it would split them; not rewritten "
            "(make it a file of its own, e.g. with cp, to rewrite it)",
        )
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
        _keep_attributes(path, tmp, st, display)
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


def _keep_attributes(path: Path, tmp: str, st: os.stat_result, display: str) -> None:
    """Give ``tmp`` the owner, group, mode and extended attributes of ``path`` (stat ``st``),
    or raise :class:`FileError` saying which one cannot be kept."""
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
        try:
            os.chown(tmp, st.st_uid if st.st_uid != mine.st_uid else -1, st.st_gid if st.st_gid != mine.st_gid else -1)
        except OSError:
            raise FileError(
                display,
                f"owned by uid {st.st_uid} gid {st.st_gid}: rewriting it as uid {os.geteuid()} "
                "would change its owner or group; not rewritten (run as its owner)",
            ) from None
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return  # no extended attributes on this file system
    for name in names:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        try:
            os.setxattr(tmp, name, value, follow_symlinks=False)
        except OSError:
            try:
                same = os.getxattr(tmp, name, follow_symlinks=False) == value
            except OSError:
                same = False
            if not same:
                raise FileError(
                    display, f"its extended attribute {name!r} cannot be kept by a rewrite; not rewritten"
                ) from None


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


def selected(path: Path, settings: Settings) -> bool:
    """Would the scan of a folder holding ``path`` read it (``--by-content``: pre-commit names
    every staged YAML file)?  Values files by name, other YAML by content (manifests, Argo CD,
    Flux, kustomize, helmfile), nothing inside a chart but its values files, ``exclude:`` globs
    honoured.  A folder is always selected (it is searched with those rules)."""
    if path.is_dir():
        return True
    real = path.resolve()
    root = settings.path.parent.resolve() if settings.path else None
    roots = [r for r in (root, Path.cwd().resolve()) if r is not None]
    if _excluded(real, roots, [glob_regex(p) for p in settings.exclude]):
        return False
    if VALUES_NAME.match(path.name):
        return True
    if not detect.candidate(path.name):
        return False
    for parent in real.parents:  # a chart's templates are Helm's, not YAML
        if (parent / "Chart.yaml").is_file():
            return False
        if parent == root:
            break
    return detect.by_name(path.name, str(path.parent)) or detect.is_manifest(path)
