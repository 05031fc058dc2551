"""Hash chains (SPEC §8, §14): append-only logs whose every entry holds the sha256 of its own
content and of the entry before it, kept twice — a table in the store and a JSON-lines file in
the output folder — so that an entry changed, removed, re-ordered or slipped in breaks a hash, a
link or the sequence. One module for every chained log: the plan log (`audit.jsonl`), the desk's
access log (`access.jsonl`) and any later kind, each declared by its `Chain`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

LINK_FIELDS = ("seq", "prev_hash", "entry_hash")  # what chains an entry, besides its content


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_lines(path: Path) -> list[tuple[int, str]]:
    """The numbered lines of a JSON-lines file that hold anything, split at b"\\n" only: JSON
    escapes the other line breaks but a writer may leave U+0085, U+2028 and U+2029 raw inside a
    string, where `str.splitlines` would cut an entry in two. Bytes that are not UTF-8 are
    replaced, so a damaged log is reported, never a crash. No file: no lines."""
    if not path.exists():
        return []
    numbered = enumerate(path.read_bytes().split(b"\n"), start=1)
    return [(n, line.decode("utf-8", errors="replace")) for n, line in numbered if line.strip()]


@dataclass(frozen=True)
class Chain:
    """One kind of chained entry. `fields`: the content every entry holds, hashed with its
    `seq` and `prev_hash`; `optional`: fields a later version added, hashed where an entry holds
    them, so older entries keep their hashes; `label`: how a problem names an entry (a format of
    its fields); `noun`: what a damaged line fails to be."""

    noun: str
    fields: tuple[str, ...]
    label: str
    optional: tuple[str, ...] = ()

    def entry_hash(self, entry: dict) -> str:
        """sha256 of the entry's content and its link to the previous entry: the canonical
        JSON (sorted keys, text unescaped) of those fields, as UTF-8."""
        hashed = ["seq", *self.fields, *(f for f in self.optional if f in entry), "prev_hash"]
        content = {name: entry[name] for name in hashed}
        text = json.dumps(content, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def chained(self, content: dict, last: tuple[int, str] | None) -> dict:
        """`content` as the entry after `last` (its seq and entry hash; None when the chain is
        empty): numbered, linked and hashed."""
        seq, previous = last if last is not None else (0, "")
        entry = {**content, "seq": seq + 1, "prev_hash": previous}
        entry["entry_hash"] = self.entry_hash(entry)
        return entry

    def where(self, source: str, entry: dict) -> str:
        """How a problem names an entry: `audit_log entry 3 (2026-01/baseline)`."""
        return f"{source} entry {entry['seq']} ({self.label.format_map(entry)})"

    def parse(self, lines: list[tuple[int, str]], source: Path) -> tuple[list[dict], list[str]]:
        """The entries of numbered JSON lines (`read_lines`) and a problem for every line that
        is not a whole entry, named `source:line`."""
        entries, problems = [], []
        for number, line in lines:
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not a JSON object")
                missing = [k for k in [*self.fields, *LINK_FIELDS] if k not in entry]
                if missing:
                    raise ValueError(f"lacks {', '.join(missing)}")
                entry["seq"] = int(entry["seq"])
            except (ValueError, TypeError) as exc:
                problems.append(f"{source}:{number}: not a whole {self.noun} ({exc})")
                continue
            entries.append(entry)
        return entries, problems

    def problems(self, source: str, entries: list[dict]) -> list[str]:
        """Every entry whose content no longer matches its hash, and every broken link: a
        `prev_hash` that is not the previous entry's hash, or a seq that does not follow it."""
        problems, previous, expected = [], "", 1
        for entry in entries:
            where = self.where(source, entry)
            if self.entry_hash(entry) != entry["entry_hash"]:
                problems.append(f"{where}: content does not match its hash")
            elif entry["prev_hash"] != previous or entry["seq"] != expected:
                problems.append(f"{where}: link to the previous entry is broken")
            previous, expected = entry["entry_hash"], entry["seq"] + 1
        return problems

    def disagreement(
        self, table: str, stored: list[dict], file: str, logged: list[dict]
    ) -> list[str]:
        """The first stored entry the file does not hold as it is (and how many more): the two
        copies of a log must agree entry for entry."""
        by_seq = {entry["seq"]: entry["entry_hash"] for entry in logged}
        differing = [e for e in stored if by_seq.get(e["seq"]) != e["entry_hash"]]
        if not differing:
            return []
        problem = f"{self.where(table, differing[0])}: {file} does not hold the same entry"
        more = len(differing) - 1
        return [f"{problem} (nor {more} later ones)" if more else problem]
