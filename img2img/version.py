"""img2img's version, in a module of its own so that the lowest layers (a saved config records
the version that wrote it) can read it without importing the public API."""

__version__ = "0.1.0"
