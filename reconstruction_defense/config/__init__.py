"""Configuration, the bottom layer: the profiles and their overrides, the attacks' parameters,
the device, the torch.distributed rank helpers and the progress bars.

Imports nothing else from the package; every other layer may import it."""

__version__ = "0.1.0"
