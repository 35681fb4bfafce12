"""wanbook: a Jupyter-first toolkit for Alibaba's Wan video models."""
from wanbook._version import __version__

__all__ = ["__version__"]
