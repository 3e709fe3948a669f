"""Lazy attribute access for package ``__init__`` modules (PEP 562).

A package lists its public names and the submodule that defines each;
nothing is imported until a name is first used, so ``import msclab`` and the
command line start without loading the analysis libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def attach(package: str, names: Mapping[str, str], submodules: tuple[str, ...] = ()
           ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """Return ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package
        The package's ``__name__``.
    names
        Public name -> the module (relative to the package, e.g. ``".fcs"``) that defines it.
    submodules
        Subpackages and modules reachable as attributes (``msclab.io``).
    """
    every = sorted({*names, *submodules})

    def __getattr__(name: str) -> object:
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
        elif name in submodules:
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return every

    return __getattr__, __dir__, every
