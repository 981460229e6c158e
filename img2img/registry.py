"""Registries: name -> object tables that code fills where the object is defined.

img2img keeps three: the recipes (:data:`img2img.tasks.TASKS`), the evaluation protocols
(:data:`img2img.metrics.protocols.EVALUATIONS`) and the web demo's tabs
(:data:`img2img.demo.TABS`). Generic code (the CLI, eval, validation, the demo, sampling)
asks a registry and never names a recipe, so adding one is one file.

Where entries come from, in order:

1. the package's own modules, named explicitly by the registry (``builtins``; no folder is
   scanned), imported on first use, so ``import img2img`` stays light;
2. entry points of the registry's group (``[project.entry-points."img2img.tasks"]`` in
   another package's ``pyproject.toml``): each is imported on first use and registers its
   objects with the same decorator, so a recipe in another package needs no edit here;
3. anything registered at run time (a test's recipe, a notebook's).

An unknown name raises :class:`UnknownName` (a ``ValueError``) listing the valid ones.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(ValueError):
    """A name no registry entry has; the message lists the valid ones."""


class Registry(Generic[T]):
    """Named entries of one ``kind`` ("task", "evaluation protocol", ...).

    ``builtins``: modules (dotted names) that register the package's own entries;
    ``group``: the entry-point group other packages register theirs in.
    """

    def __init__(self, kind: str, group: str, builtins: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.group = group
        self.builtins = builtins
        self._entries: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, entry: T | None = None) -> Callable[[T], T] | T:
        """Add ``entry`` under ``name`` (or, without ``entry``, a decorator that adds what it
        decorates). A name taken by another object is an error: two recipes must not share
        a name silently; :meth:`unregister` it first to replace it."""

        def add(item: T) -> T:
            present = self._entries.get(name)
            if present is not None and present is not item:
                raise ValueError(f"{self.kind} {name!r} is registered already ({present!r})")
            self._entries[name] = item
            return item

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test's or a notebook's temporary entry); unknown names raise."""
        self._load()
        if name not in self._entries:
            raise self._unknown(name)
        del self._entries[name]

    def __getitem__(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise self._unknown(name) from None

    def get(self, name: str, default: T | None = None) -> T | None:
        self._load()
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return list(self._entries.items())

    def values(self) -> list[T]:
        self._load()
        return list(self._entries.values())

    def _unknown(self, name: str) -> UnknownName:
        return UnknownName(f"unknown {self.kind} {name!r}; choose one of {', '.join(self)}")

    def _load(self) -> None:
        """Import the built-in modules, then the entry points (once). A broken plug-in is
        a warning naming it, not a failure of everything else."""
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtins:
            importlib.import_module(module)
        for point in entry_points(group=self.group):
            try:
                point.load()
            except Exception as err:  # a third party's bug must not break img2img
                warnings.warn(
                    f"{self.group} entry point {point.name} ({point.value}) failed to load: {err}",
                    stacklevel=3,
                )
