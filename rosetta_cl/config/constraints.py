"""Parameter constraints in scikit-learn's ``_parameter_constraints`` style: a class lists, per
field, what values are allowed, and :func:`check_constraints` turns the first violation into a
one-line :class:`ConfigError` naming the value and what is allowed.

A constraint's ``label`` says how the value is named in the message: ``"beta"`` gives
``beta -0.5: must be >= 0``, a label with ``{}`` is formatted with the value
(``"rosetta points k={}"`` gives ``rosetta points k=0: must be >= 1``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rosetta_cl.errors import ConfigError


def describe(label: str, value) -> str:
    if "{}" in label:
        return label.format(value)
    return f"{label} {value!r}" if isinstance(value, str) else f"{label} {value}"


@dataclass(frozen=True)
class Interval:
    """A number ``>= low`` (``> low`` with ``strict``); None allowed with ``optional``."""

    label: str
    low: float
    strict: bool = False
    optional: bool = False
    unit: str = ""  # appended to the bound, e.g. " points per part"

    def error(self, value, choices: Mapping) -> str | None:
        if value is None and self.optional:
            return None
        if value > self.low or (value == self.low and not self.strict):
            return None
        return f"{describe(self.label, value)}: must be {'>' if self.strict else '>='} " \
               f"{self.low:g}{self.unit}"


@dataclass(frozen=True)
class OneOf:
    """One of ``choices``: a tuple, or the name of a registry in the ``choices`` mapping given
    to :func:`check_constraints` (e.g. ``"methods"``); None allowed with ``optional``. A tuple
    value (``each``) has every element checked."""

    label: str
    choices: tuple | str
    optional: bool = False
    each: bool = False

    def error(self, value, choices: Mapping) -> str | None:
        allowed = choices[self.choices] if isinstance(self.choices, str) else self.choices
        if value is None and self.optional:
            return None
        for item in (value if self.each else (value,)):
            if item not in allowed:
                return (f"{describe(self.label, item)}{did_you_mean(item, allowed)}: allowed "
                        f"{', '.join(allowed)}")
        return None


def did_you_mean(value, allowed) -> str:
    """`` (did you mean 'gaussians8'?)`` for a near miss of one of ``allowed``, else ``""``."""
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


Constraint = Interval | OneOf


def check_constraints(obj, constraints: Mapping[str, Constraint],
                      choices: Mapping | None = None) -> None:
    """Raise ConfigError for the first field of ``obj`` that breaks its constraint."""
    for name, constraint in constraints.items():
        message = constraint.error(getattr(obj, name), choices or {})
        if message:
            raise ConfigError(message)


def check_all(rules: list[tuple[bool, str | Callable[[], str]]]) -> None:
    """Raise ConfigError with the message of the first rule that does not hold."""
    for ok, message in rules:
        if not ok:
            raise ConfigError(message() if callable(message) else message)
