"""Package attributes imported on first use (PEP 562), so that importing one light module of a
package does not import its heavy siblings (DGL) through the package's ``__init__``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name in ``exports`` comes from the submodule
    it maps to, imported when the name is first asked for."""

    def attribute(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return attribute
