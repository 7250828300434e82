"""Data and files, a bottom layer beside :mod:`..config`: the datasets, files written atomically,
checkpoints and the digests that key every cache.

Imports nothing else from the package; every other layer may import it."""
