"""glsr: single-image super-resolution with global and local residual learning."""

from glsr.errors import GlsrError
from glsr.models import MODELS, create_model

__all__ = ["MODELS", "GlsrError", "create_model"]
__version__ = "0.1.0"
