"""Publishing a plan (SPEC §8), crash-safe at every instant. The files are written into a
staging dot folder and sealed with their sha256 in plan.json. Then, under the store's lock and
in one transaction, a store of an earlier version is upgraded (optimizer/migrations), the store
rows and the audit entry are recorded and the staged folder is renamed to a pending dot folder
named by the entry; the commit makes the plan official. Only then is the pending folder swapped
into place and the entry appended to `audit.jsonl`.

Killed before the commit: the old plan, its rows and its entry stand; the dot folders are
cleared by the next run. Killed after it: the next run (under the same lock, before its own
entry) swaps the committed pending folder into place and appends the missing log lines.
Readers ignore dot folders, so no partial plan is ever visible."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from optimizer import audit, migrations, store
from optimizer.chain import sha256_file

_RENAME_EXCHANGE = 2  # renameat2 flag: swap two paths atomically (Linux ≥ 3.15)


class Staging:
    """The dot folder a run writes `target`'s files into (`.<scenario>.staging-<pid>` beside
    it); removed on any failure, so only a published plan is ever visible."""

    def __init__(self, target: Path):
        self.target = Path(target)
        self.folder = self.target.parent / f".{self.target.name}.staging-{os.getpid()}"
        self.files: dict[str, str] = {}

    def __enter__(self) -> Staging:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        clear_abandoned(self.target.parent)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)  # published: gone; failed: discarded

    def seal(self, plan: dict) -> dict:
        """Hash every staged file once and write plan.json once, with those hashes as its
        `outputs`; `files` then holds every file's sha256, plan.json's included."""
        outputs = {p.name: sha256_file(p) for p in sorted(self.folder.iterdir())}
        plan = {**plan, "outputs": outputs}
        path = self.folder / "plan.json"
        path.write_text(json.dumps(plan, indent=2, ensure_ascii=False), encoding="utf-8")
        self.files = dict(sorted({**outputs, "plan.json": sha256_file(path)}.items()))
        return plan


def publish(
    staging: Staging,
    plan: dict,
    url: str,
    out: Path,
    inputs: dict[str, Path],
    anchor: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> dict:
    """Record the sealed staging folder's run in the store and the audit log and put it in
    place (module docstring); `inputs` (name → path) are snapshotted by content, and the new
    chain head goes to `anchor` when given. Returns the audit entry."""
    out = Path(out)
    audit.snapshot_inputs(out, inputs, plan["inputs"])
    data_dir = next(iter(inputs.values())).parent
    with store.transaction(url, on_wait) as conn:
        migrations.upgrade(conn)  # a store of an earlier version takes this one's schema
        recover(conn, out)
        rows = store.store_rows(conn, staging.folder, staging.target, plan)
        entry = audit.record_entry(conn, plan, staging.target, out, data_dir, staging.files, rows)
        pending = _pending(staging.target, entry)
        to_pending(staging.folder, pending)
    finish(pending, staging.target, out, entry)
    if anchor:
        audit.anchor_head(anchor, entry, out)
    return entry


def _pending(target: Path, entry: dict) -> Path:
    return target.parent / f".{target.name}.pending-{entry['entry_hash'][:16]}-{os.getpid()}"


def to_pending(staged: Path, pending: Path) -> None:
    """The staged folder under the name of its entry, inside the transaction that records it."""
    os.replace(staged, pending)


def finish(pending: Path, target: Path, out: Path, entry: dict) -> None:
    """Put a committed plan in place and its entry in `audit.jsonl`."""
    if pending.exists():
        swap_into_place(pending, target)
    audit.append_line(out, entry)


def recover(conn, out: Path) -> None:
    """Complete what killed runs left after their commit, and drop what they left before it:
    a pending folder whose entry is committed is swapped into place, one whose entry is not is
    removed; `audit.jsonl` gets the committed entries it lacks. Folders of live runs are kept."""
    entries = {e["entry_hash"][:16]: e for e in audit.stored_entries(conn)}
    for pending in sorted(out.glob("*/.*.pending-*-*")):
        name, _, rest = pending.name.rpartition(".pending-")
        prefix, _, pid = rest.partition("-")
        if not pid.isdigit() or _alive(int(pid)):
            continue
        entry = entries.get(prefix)
        if entry is None:
            shutil.rmtree(pending, ignore_errors=True)
            continue
        swap_into_place(pending, out / entry["folder"])
    audit.sync_log(conn, out)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a folder of this process's pid is an earlier, killed process's
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one step; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(
        at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    return result == 0


def clear_abandoned(folder: Path) -> None:
    """Remove the dot folders (`.<scenario>.staging-<pid>`, `.<scenario>.old-<pid>`) that runs
    killed before their end left in `folder`; those of runs still going are kept."""
    for path in folder.glob(".*-*"):
        kind, _, pid = path.name.rpartition("-")
        if not (path.is_dir() and pid.isdigit() and kind.endswith((".staging", ".old"))):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # a live process of another user


def swap_into_place(staging: Path, target: Path) -> None:
    """Replace `target` by `staging` so that at every instant the target path holds the old
    complete plan or the new one: an atomic exchange where the system has it, else two renames
    with the old plan kept in a dot folder until the new one is in place."""
    if not target.exists():
        os.replace(staging, target)
    elif _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old plan
    else:
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
