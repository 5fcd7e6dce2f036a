"""``graphrec.datasets``: the bundled datasets (alias of :mod:`graphrec.data.datasets`)."""
from graphrec.data.datasets import *  # noqa: F401,F403
from graphrec.data.datasets import __all__  # noqa: F401
