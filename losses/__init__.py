"""The loss family from entropy to focal loss (see docs and ../shared/spec/losses.md)."""

__all__: list[str] = []
