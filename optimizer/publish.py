"""Publishing a plan (SPEC §8): the files are written into a staging dot folder, sealed with
their sha256 in plan.json, then — under the store's lock, in one transaction — the store rows
and the audit entry are recorded, the folder swapped into place and the entry appended to
`audit.jsonl`. Readers ignore dot folders, so a failed run leaves no partial plan, and the next
run clears what killed runs left behind."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
from pathlib import Path

from optimizer import store
from optimizer.store import sha256_file

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


def publish(staging: Staging, plan: dict, url: str, out: Path, data_dir: Path) -> dict:
    """Record the sealed staging folder's run in the store and the audit log and put it in
    place, all under the store's lock and in its transaction: the swap and the `audit.jsonl`
    line come last before the commit, so folder, store and log change together. Returns the
    audit entry."""
    with store.transaction(url) as conn:
        entry = store.record_run(
            conn, staging.folder, staging.target, plan, staging.files, out, data_dir
        )
        swap_into_place(staging.folder, staging.target)
        store.append_audit_line(out, entry)
    return entry


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
