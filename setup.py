"""Packaging beyond pyproject.toml: the shipped models and the demo's examples go into the wheel.

They live at the top of the repository (``weights/``, ``examples/``), outside the package,
so a plain wheel would leave them out and an installed img2img would find no models. The
build copies them into the package as ``img2img/_shipped/{weights,examples}``, where
:func:`img2img.saved_models.shipped_folder` looks first. An editable install reads the
repository's folders directly and copies nothing.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("weights", "examples")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        # A reused build/ folder may hold files since removed from the repository.
        shutil.rmtree(Path(self.build_lib, "img2img", "_shipped"), ignore_errors=True)
        for folder in SHIPPED:
            for source in sorted((root / folder).rglob("*")):
                if source.is_file() and "__pycache__" not in source.parts:
                    target = Path(self.build_lib, "img2img", "_shipped", source.relative_to(root))
                    self.mkpath(str(target.parent))
                    self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildWithShippedFiles})
