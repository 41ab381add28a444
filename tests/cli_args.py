"""Command lines for the tests: defaults that an option given by the test replaces (charclf refuses a setting
given twice, so appending an override to the defaults is no longer a way to change one)."""
from __future__ import annotations


def with_overrides(defaults: dict[str, str], extra: tuple[str, ...] | list[str]) -> list[str]:
    """``defaults`` as ``--option value`` pairs, each replaced by ``extra``'s value for that option, then the rest
    of ``extra`` in its order."""
    values, rest, extra = dict(defaults), [], list(extra)
    i = 0
    while i < len(extra):
        option, eq, value = extra[i].partition("=")
        if option in values and eq:  # --epochs=2
            values[option] = value
            i += 1
        elif option in values and i + 1 < len(extra):  # --epochs 2
            values[option] = extra[i + 1]
            i += 2
        else:
            rest.append(extra[i])
            i += 1
    return [token for pair in values.items() for token in pair] + rest
