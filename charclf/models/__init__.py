"""Model zoo: every architecture of the study, built by name (timm style).

>>> from charclf.models import create_model, list_models, model_summary
>>> model = create_model("vgg", num_classes=62)

Importing this package imports every model module below so that their ``@register_model`` factories are in
the registry. Add a new family as one small module and import it here.
"""
from charclf.models.registry import (INIT_ONLY_KWARGS, architecture_kwargs, create_model, get_model_factory,
                                     list_models, register_model)
from charclf.models.summary import describe_models, model_summary

# Model families (imported for their registrations).
from charclf.models import (  # noqa: E402,F401  isort: skip
    alexnet, charnet, efficientnet, ensnet, lenet, lenet5, minivision, resnet, spinalnet, vgg,
)

__all__ = ["register_model", "create_model", "list_models", "get_model_factory", "model_summary",
           "describe_models", "INIT_ONLY_KWARGS", "architecture_kwargs"]
