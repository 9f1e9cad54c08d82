"""Models: 1D ResNet family, registry and signal contract."""

from ecgtriage.models.registry import SignalContract, create_model, list_models, register_model

__all__ = ["SignalContract", "create_model", "list_models", "register_model"]
