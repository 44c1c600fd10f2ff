"""YAML that remembers where each mapping starts, so a bad flow's error can name the line.

`load` reads like `yaml.safe_load`, except that every mapping is a `LineDict` and every list a
`LineList`: a plain dict or list that also knows the line it starts on. `line_of` gives that
line (None for anything else, such as a document that came from the database as JSON).
Aliases (`*prefer_not`) are the same object as their anchor, so they report the anchor's line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml


class LineDict(dict[Any, Any]):
    """A mapping read from YAML, with the 1-based line it starts on."""

    line: int | None = None


class LineList(list[Any]):
    """A sequence read from YAML, with the 1-based line it starts on."""

    line: int | None = None


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    yield data  # yielded first, filled after: how PyYAML builds recursive structures
    data.update(loader.construct_mapping(node))


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def load(text: str) -> Any:
    """`yaml.safe_load`, with line numbers on mappings. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def line_of(value: Any) -> int | None:
    return value.line if isinstance(value, LineDict | LineList) else None


_UNCLOSED = {"while parsing a flow mapping": "{", "while parsing a flow sequence": "["}


def _unclosed(exc: yaml.YAMLError) -> str | None:
    """The bracket a syntax error left open, when PyYAML only noticed it lines later."""
    context, start, found = (getattr(exc, n, None) for n in ("context", "context_mark",
                                                               "problem_mark"))
    bracket = _UNCLOSED.get(str(context))
    if bracket and start is not None and found is not None and found.line > start.line:
        return bracket
    return None


def yaml_error_line(exc: yaml.YAMLError) -> int | None:
    """The line to fix (1-based), if PyYAML says: where a never-closed `{` or `[` opened, else
    where PyYAML noticed the problem."""
    if _unclosed(exc):
        return exc.context_mark.line + 1  # type: ignore[attr-defined]
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's complaint in one line: "expected ',' or '}', but got '?' (while parsing a flow
    mapping)", or for a bracket left open, which one and where the reader ran into trouble."""
    bracket = _unclosed(exc)
    if bracket:
        closing = "}" if bracket == "{" else "]"
        return (f"the '{bracket}' on this line is never closed with '{closing}' (the reader "
                f"ran into line {exc.problem_mark.line + 1} still inside it)")  # type: ignore[attr-defined]
    problem, context = getattr(exc, "problem", None), getattr(exc, "context", None)
    if not problem:
        return " ".join(str(exc).split())
    return f"{problem} ({context})" if context else str(problem)
