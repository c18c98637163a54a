"""kanfair's version, in a module of its own so that modules below the package root can
read it without importing the root (pyproject.toml reads it from here too)."""
__version__ = "0.1.0"
