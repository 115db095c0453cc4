"""A small Dockerfile reader for the lint rules in test_dockerfile.py (Debian ships no hadolint).

It knows what those rules need: instructions with their line continuations joined, grouped into stages, the
global ARGs (before the first FROM) with their defaults, and the stage each FROM builds on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest, continuations joined with spaces
    line: int  # 1-based line of the keyword


@dataclass
class Stage:
    name: str
    base: str  # the FROM argument as written (may hold ${ARG})
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: dict[str, Stage]

    def parent(self, stage: Stage) -> Stage | None:
        """The stage this one is built FROM, if it is another stage of the file."""
        return self.stages.get(stage.base)

    def lineage(self, name: str) -> list[Stage]:
        """The stage and its ancestors inside the file, nearest first."""
        chain: list[Stage] = []
        stage: Stage | None = self.stages[name]
        while stage is not None:
            chain.append(stage)
            stage = self.parent(stage)
        return chain

    def copied_from(self, name: str) -> set[str]:
        """Stages whose files end up in `name`: its lineage plus every COPY --from=<stage>, transitively."""
        seen: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            if current in seen or current not in self.stages:
                continue
            seen.add(current)
            for stage in self.lineage(current):
                todo.append(stage.name)
                for copy in stage.all("COPY"):
                    if m := re.search(r"--from=(\S+)", copy.args):
                        todo.append(m.group(1))
        return seen

    def effective_user(self, name: str) -> str:
        """The USER in force at the end of a stage (inherited from its parent stages); 'root' if none."""
        for stage in self.lineage(name):
            users = stage.all("USER")
            if users:
                return users[-1].args.strip()
        return "root"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        out.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    if buffer:
        raise ValueError(f"line {start}: continuation runs past the end of the file")
    return out


def parse(path: Path) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line, text in _logical_lines(path.read_text()):
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            if m is None:
                raise ValueError(f"line {line}: unreadable FROM {args!r}")
            name = m.group(2) or f"stage-{len(stages)}"
            current = stages[name] = Stage(name=name, base=m.group(1))
        elif current is None:
            if keyword != "ARG":
                raise ValueError(f"line {line}: {keyword} before the first FROM")
            arg_name, _, default = args.strip().partition("=")
            global_args[arg_name] = default
        else:
            current.instructions.append(Instruction(keyword, args.strip(), line))
    return Dockerfile(global_args=global_args, stages=stages)
