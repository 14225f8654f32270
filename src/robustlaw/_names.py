"""Error messages about names: the one "unknown name" message, and errors whose text names
arguments the way the caller spells them (Python keywords, CLI flags, spec keys)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

__all__ = ["ArgumentError", "unknown_name"]


def unknown_name(name: object, known: Iterable[str], what: str = "") -> str:
    """``unknown 'spehre' (known: ball, sphere; did you mean 'sphere'?)``.

    Parameters
    ----------
    name : object
        What was given.
    known : iterable of str
        The registry's names, listed in the given order (duplicates dropped).
    what : str
        Optional noun placed before the name ("unknown activation 'rleu' ...").
    """
    names = list(dict.fromkeys(known))
    noun = f"{what} " if what else ""
    text = f"unknown {noun}{name!r} (known: {', '.join(names) or 'none'}"
    if isinstance(name, str) and names:
        lowered = {item.lower(): item for item in names}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        if close:
            text += f"; did you mean {lowered[close[0]]!r}?"
    return text + ")"


class ArgumentError(ValueError):
    """A ValueError whose message names arguments through placeholders.

    ``str(error)`` spells them as the raising function's keywords; a caller that exposes
    the same arguments under other names (``--rescale`` on the command line,
    ``data.options.rescale`` in a spec) rewords the message with :meth:`worded`.

    Parameters
    ----------
    template : str
        The message with ``{argument}`` placeholders (``{{`` for a literal brace).
    words : mapping of str to str
        How the raising function spells each argument (``{"rescale": "rescale=True"}``).
    **values
        Other placeholders, filled in as they are (file names, numbers).
    """

    def __init__(self, template: str, words: Mapping[str, str], **values: object) -> None:
        self.template = template
        self.words = dict(words)
        self.values = values
        super().__init__(self.worded())

    def worded(self, words: Mapping[str, str] | None = None) -> str:
        """The message with the arguments spelled by ``words`` where it names them."""
        spelled = {**self.words, **{k: v for k, v in (words or {}).items() if k in self.words}}
        return self.template.format(**spelled, **self.values)
