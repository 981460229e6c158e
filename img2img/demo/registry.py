"""The registry of the demo's tabs (:mod:`img2img.demo.tabs` registers the built-in ones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from img2img.registry import Registry


@dataclass(frozen=True)
class DemoTab:
    """A tab: its ``title`` in the page, ``what`` its models do (for the note of an empty
    tab), ``build(backend)`` laying out its widgets inside ``gr.Tab``, and ``api(backend)``
    adding its endpoint (None: none)."""

    name: str
    title: str
    what: str
    build: Callable[[Any], None]
    api: Callable[[Any], None] | None = None


TABS: Registry[DemoTab] = Registry(
    "demo tab", "img2img.demo_tabs", builtins=("img2img.demo.tabs", "img2img.demo.lab_tab")
)


def register_tab(
    name: str, title: str, what: str, api: Callable[[Any], None] | None = None
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Decorator of a tab's build function: register it as tab ``name`` (see
    :class:`DemoTab`). Tabs appear in the order they are registered."""

    def register(build: Callable[[Any], None]) -> Callable[[Any], None]:
        TABS.register(name, DemoTab(name, title, what, build, api))
        return build

    return register
