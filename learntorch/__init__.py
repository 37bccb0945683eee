__version__ = "0.0.1"
# The public namespace: `import learntorch as torch` sees what PyTorch's top level offers.
# Kept by hand (nbdev only updates the version line); every name comes from a notebook's module.
from .tensors import *
from .ops import *
from . import cuda
from .autograd import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode)
from . import autograd
from . import nn
from .nn import layers as _nn_layers, losses as _nn_losses   # concept modules: importing them fills nn's namespaces
from .nn import conv as _nn_conv, rnn as _nn_rnn               # convolutions; recurrent layers and nn.utils.rnn
from .nn import attention as _nn_attention                     # attention, MultiheadAttention, Transformer
from .nn import _backends as backends   # torch.backends.mps / cudnn, for device-selection idioms
from .nn.layers import _softmax_method as softmax, _log_softmax_method as log_softmax   # torch.softmax(input, dim, dtype)
from .nn.layers import einsum, meshgrid, unique, bincount, cdist
from . import optim   # torch.optim, torch.optim.lr_scheduler; also fills nn.utils
from . import utils
from .utils import data as _utils_data   # so that `torch.utils.data.DataLoader` works after `import torch`
from . import serialization
from .serialization import save, load
from . import distributed   # torch.distributed on MPI; also fills nn.parallel, utils.data.distributed, the learntorch command


def __getattr__(name):
    "`torch.set_num_threads`/`get_num_threads` live in the training module; import it only when asked."
    if name in ('set_num_threads', 'get_num_threads'):
        from . import train
        return getattr(train, name)
    raise AttributeError(f"module 'learntorch' has no attribute '{name}'")
