"""torch.nn for the facade: Module and Parameter, layers, activations, containers, losses, `functional` and
`init`,
`utils` (gradient clipping); convolutions, pooling, dropout, normalization and embedding (`layers`).

Layers compute with the facade's ops, so their graphs hold PyTorch's nodes (nn.Linear on a batch records
TBackward0 and AddmmBackward0), and modules print, name their parameters and save state as PyTorch's.
"""
from fgrad.facade.nn import functional, init, utils
from fgrad.facade.nn.layers import *  # noqa: F401,F403  (Conv2d, MaxPool2d, BatchNorm2d, Dropout, ...)
from fgrad.facade.nn import layers as _layers
from fgrad.facade.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss)
from fgrad.facade.nn.module import Module
from fgrad.facade.nn.modules import (Flatten, Identity, Linear, LogSoftmax, ModuleList, ReLU, Sequential, Sigmoid,
                                     Softmax, Tanh)
from fgrad.facade.nn.parameter import Buffer, Parameter
from fgrad.facade.nn.containers import ModuleDict, ParameterDict, ParameterList
from fgrad.facade.nn.activation_more import *  # noqa: F401,F403  (PReLU, SELU, Mish, GLU, ...)
from fgrad.facade.nn import activation_more as _activation_more
from fgrad.facade.nn.layers_more import *  # noqa: F401,F403  (GroupNorm, InstanceNorm2d, Upsample, ...)
from fgrad.facade.nn import layers_more as _layers_more
from fgrad.facade.nn.loss_more import *  # noqa: F401,F403  (SmoothL1Loss, HuberLoss, KLDivLoss, ...)
from fgrad.facade.nn import loss_more as _loss_more
from fgrad.facade.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

__all__ = ["Module", "Parameter", "Buffer", "Linear", "Identity", "Flatten", "Sequential", "ModuleList", "ReLU",
           "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss",
           "NLLLoss", "CrossEntropyLoss", "functional", "init", "utils", *_layers.__all__,
           "ModuleDict", "ParameterList", "ParameterDict",
           "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
           *_activation_more.__all__, *_layers_more.__all__, *_loss_more.__all__]
