import os
import sys

# Triton kernels run on CPU tensors through the interpreter; the variable must
# be set before triton.jit decorates the kernels (they are imported lazily).
if os.environ.get("TRITON_INTERPRET") is None:
    try:
        import torch

        if not torch.cuda.is_available():
            os.environ["TRITON_INTERPRET"] = "1"
    except ImportError:  # pragma: no cover
        pass

sys.path.insert(0, os.path.dirname(__file__))
