"""``python -m graphrec ...``: the ``graphrec`` command, also as
``torchrun --nproc_per_node=N -m graphrec train ...``."""
import sys

from graphrec.cli import main

if __name__ == "__main__":
    sys.exit(main())
