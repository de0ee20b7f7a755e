"""How a number was made, as a value: `Signature`, in the spirit of sacreBLEU's.

Ground floor. Every scorer, metric and statistic of ours writes one (a task's
``metadata.scorer`` and ``metadata.metric_signatures``, the report's statistics), and
`reporting.comparability` reads them back to decide what may be set side by side.

A signature is an ordered list of named fields, written ``name:value`` and joined by
``|``; a field without a value is a flag (``think``, ``max-over-golds``). The first field
usually names the scorer and its version (``mgsm-numeric:v1``). A value may group
``|``-joined parts in parentheses (``bleu:sacrebleu(corpus|tok:13a)``): `nested` writes
them, `parse` keeps them in one field. A name may repeat (a COMET signature names the
model, then the ``comet`` package version).

Every string parses, and ``str(Signature.parse(text)) == text`` for any text: results
files written before this type existed (or by sacreBLEU itself) read back exactly, and
`diff` says which fields two of them disagree on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Union

SEP = "|"

Field = tuple[str, Union[str, None]]  # (name, value); value None: a flag
Part = Union[Field, str, "Signature", None]


def _split_top(text: str) -> list[str]:
    """`text` cut at every ``|`` outside parentheses (an unbalanced ``)`` is plain text)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch == SEP and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def inert(text: str) -> str:
    """`text` made safe as one name or value: a ``|`` outside parentheses becomes ``/`` and
    unbalanced parentheses become brackets (a model name, a path, anything from outside)."""
    if len(_split_top(text)) == 1 and _balanced(text):
        return text
    return text.replace("|", "/").replace("(", "[").replace(")", "]")


def _field_text(field: Field) -> str:
    name, value = field
    return name if value is None else f"{name}:{value}"


@dataclass(frozen=True)
class Change:
    """One field on which two signatures disagree (None: the field is absent on that side)."""

    name: str
    a: str | None
    b: str | None

    def __str__(self) -> str:
        def side(v):
            return "absent" if v is None else (v or "(set)")
        return f"{self.name} {side(self.a)} vs {side(self.b)}"


@dataclass(frozen=True)
class Signature:
    fields: tuple[Field, ...] = ()

    # ----------------------------------------------------------- building
    @classmethod
    def of(cls, *parts: Part) -> "Signature":
        """Fields in order: ``(name, value)`` pairs, flags (a bare ``str``), other signatures
        (their fields spliced in), None (left out). A value that is not a string is written
        with ``str``; a name or value that would not read back as one field (a ``|`` outside
        parentheses, unbalanced parentheses) is made `inert`."""
        out: list[Field] = []
        for part in parts:
            if part is None:
                continue
            if isinstance(part, Signature):
                out.extend(part.fields)
                continue
            name, value = (part, None) if isinstance(part, str) else (part[0], part[1])
            out.append((inert(str(name)), None if value is None else inert(str(value))))
        return cls(tuple(out))

    @classmethod
    def parse(cls, text: str) -> "Signature":
        """The fields of a signature string; any string parses and formats back to itself."""
        if not text:
            return cls(())
        fields = []
        for part in _split_top(str(text)):
            name, colon, value = part.partition(":")
            fields.append((name, value if colon else None))
        return cls(tuple(fields))

    def without(self, *names: str) -> "Signature":
        """A copy without the fields of these names (every occurrence)."""
        return Signature(tuple(f for f in self.fields if f[0] not in names))

    # ----------------------------------------------------------- reading
    def format(self) -> str:
        return SEP.join(_field_text(f) for f in self.fields)

    __str__ = format

    @property
    def head(self) -> Field | None:
        """The first field: the scorer's name and version, by convention."""
        return self.fields[0] if self.fields else None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first field `name` ('' for a flag), else `default`."""
        for n, v in self.fields:
            if n == name:
                return "" if v is None else v
        return default

    def names(self) -> list[str]:
        return [n for n, _ in self.fields]

    def short(self, digits: int = 8) -> str:
        """A short stable id of the whole string (SHA-256, hex)."""
        return hashlib.sha256(self.format().encode("utf-8")).hexdigest()[:digits]

    def diff(self, other: "Signature") -> list[Change]:
        """The fields that differ, matched by name and occurrence (the second ``comet`` field
        against the other's second), in this signature's order, then the other's extra fields."""
        def keyed(sig):
            seen: dict[str, int] = {}
            out = {}
            for name, value in sig.fields:
                k = seen.get(name, 0)
                seen[name] = k + 1
                out[(name, k)] = "" if value is None else value
            return out

        a, b = keyed(self), keyed(other)
        changes = []
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                name = key[0] if key[1] == 0 else f"{key[0]}#{key[1] + 1}"
                changes.append(Change(name, a.get(key), b.get(key)))
        return changes


def nested(name: str, *parts: Part) -> str:
    """A value grouping parts: ``sacrebleu(corpus|tok:13a)``."""
    return f"{name}({Signature.of(*parts)})"


def joined(values: Iterable[str]) -> str:
    """Alternatives inside one value, ``a|b|c``: only inside a `nested` group or parentheses."""
    return SEP.join(values)

