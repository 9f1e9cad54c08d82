"""``python -m ecgtriage`` (also what ``torchrun -m ecgtriage train ...`` runs)."""

import sys

from ecgtriage.cli import main

sys.exit(main())
