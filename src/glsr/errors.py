"""The exceptions glsr raises for bad input: each carries a one-line message for the user."""

from __future__ import annotations


class GlsrError(Exception):
    """Base class: an error the user can fix. The CLI prints its message and exits with 2."""


class UnknownModel(GlsrError):
    """A model name that is not in the model table."""


class MissingWeights(GlsrError):
    """A model has no shipped weights for a scale, or a weight file is missing or corrupt."""


class BadImage(GlsrError):
    """An image file that cannot be read, is too large, or has an unsupported mode."""


class DataNotFound(GlsrError):
    """A benchmark or training folder that does not exist or holds no images."""


class BadArgument(GlsrError):
    """An option with a value outside its allowed range."""
