"""The one error type msclab raises for bad input.

Every reader and validator raises :class:`MsclabError` (or a subclass) when it
cannot use what it was given. The message names the file, the place in it
(byte offset, line, well, field) and what the user can do about it, so the
command line can print it as one paragraph without a traceback.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path


class MsclabError(Exception):
    """Bad input that msclab refuses, with where it is and what to do.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file
        The file the problem is in, if any.
    where
        The place in the file: ``"byte 1024"``, ``"line 12"``, ``"well B3"``,
        ``"samples[4].donor"``.
    hint
        What the user can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike[str] | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = Path(file) if file is not None else None
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(f"{self.file}")
        if self.where:
            parts.append(f"{self.where}")
        prefix = ", ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.hint:
            text += f" {self.hint}" if text.endswith(".") else f". {self.hint}"
        return text


class FCSError(MsclabError):
    """An FCS file that cannot be read as it is."""


class AssayFileError(MsclabError):
    """A plate-reader or multiplex export that cannot be read as it is."""


class ManifestError(MsclabError):
    """An experiment manifest or samplesheet that is not valid.

    ``problems`` holds every problem found, each a :class:`MsclabError`, so a
    user can fix them all in one go.
    """

    def __init__(self, problems: list[MsclabError], *, file: str | PathLike[str] | None = None) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        summary = f"{n} problem{'s' if n != 1 else ''} found"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{summary}:\n{body}", file=file)

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{self.file}: " if self.file is not None else ""
        body = "\n".join(f"  - {p}" for p in self.problems)
        return f"{head}{n} problem{'s' if n != 1 else ''} found:\n{body}"
