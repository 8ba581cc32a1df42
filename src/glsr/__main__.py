"""``python -m glsr``: the same as the ``glsr`` console script (and what ``torchrun -m glsr`` runs)."""

import sys

from glsr.cli import main

sys.exit(main())
