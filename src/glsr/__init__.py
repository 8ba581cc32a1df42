"""glsr: single-image super-resolution with global and local residual learning."""

from glsr.errors import GlsrError
from glsr.files import upscale
from glsr.inference import load_model
from glsr.models import MODELS, create_model

__all__ = ["MODELS", "GlsrError", "create_model", "load_model", "upscale"]
__version__ = "0.1.0"
