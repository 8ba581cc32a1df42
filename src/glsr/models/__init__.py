"""The model table: the one place that maps a public model name to its network and descriptor."""

from __future__ import annotations

from torch import nn

from glsr.errors import BadArgument, UnknownModel
from glsr.models import bicubic, drcn, drrn, fsrcnn, gladsr, glrl, rdn, srcnn, srgrn, vdsr
from glsr.models._spec import ModelSpec, count_parameters

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        bicubic.SPEC,
        *srcnn.SPECS,
        *fsrcnn.SPECS,
        *vdsr.SPECS,
        *drcn.SPECS,
        *drrn.SPECS,
        glrl.SPEC,
        *gladsr.SPECS,
        *rdn.SPECS,
        *srgrn.SPECS,
    )
}

__all__ = ["MODELS", "ModelSpec", "count_parameters", "create_model", "default_model", "describe_defaults", "get_spec"]


def get_spec(name: str) -> ModelSpec:
    """The descriptor of a model, or :class:`UnknownModel` naming the valid choices."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None


def default_model(scale: int) -> str:
    """The model ``glsr upscale`` uses at this scale when none is named (the spec's ``default_for``)."""
    names = [spec.name for spec in MODELS.values() if scale in spec.default_for]
    if len(names) != 1:
        raise BadArgument(f"scale must be 2, 3 or 4, not {scale}")
    return names[0]


def describe_defaults() -> str:
    """Each scale's default model in words, e.g. ``gladsr_l at x2 and x4, glrl at x3``."""
    scales: dict[str, list[str]] = {}
    for scale in (2, 3, 4):
        scales.setdefault(default_model(scale), []).append(f"x{scale}")
    return ", ".join(f"{name} at {_and(s)}" for name, s in scales.items())


def _and(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def create_model(name: str, scale: int, pretrained: bool = False, **overrides: object) -> nn.Module:
    """Build a model from the table.

    Args:
        name: a name from :data:`MODELS` (``glsr models`` lists them).
        scale: the upscaling factor; must be one the model supports.
        pretrained: load the shipped weights (strict key matching); raises
            :class:`~glsr.errors.MissingWeights` if there are none.
        overrides: constructor arguments that replace the variant's defaults.
    """
    spec = get_spec(name)
    if scale not in spec.scales:
        raise BadArgument(f"{name} supports scales {', '.join(map(str, spec.scales))}, not {scale}")
    try:
        model = spec.build(scale=scale, **{**spec.kwargs, **overrides})
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        bad = str(error).rsplit("argument", 1)[-1].strip()
        raise BadArgument(f"{name} has no option {bad} (model_kwargs)") from None
    except ValueError as error:  # a constructor's check of an option's value, e.g. a model.json's
        raise BadArgument(f"{name}: {error} (model_kwargs)") from None
    if pretrained:
        from glsr.weights import load_pretrained

        load_pretrained(model, spec, scale)
    return model
