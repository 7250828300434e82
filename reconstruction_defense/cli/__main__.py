"""``python -m reconstruction_defense.cli run ...``: the same as ``recdef run ...``."""

import sys

from .recdef import main

sys.exit(main())
