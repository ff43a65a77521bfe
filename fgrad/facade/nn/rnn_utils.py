"""torch.nn.utils.rnn for the facade: pad_sequence. (PackedSequence and pack_padded_sequence are not
supported: the recurrent layers take padded batches.)"""
from __future__ import annotations

import numpy as np

from fgrad.facade._tensor import Tensor, make

__all__ = ["pad_sequence"]


def _broadcast_error(a, b, dim: int) -> RuntimeError:
    return RuntimeError(f"The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton "
                        f"dimension {dim}")


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"):
    """Stack variable-length (L_i, *) tensors into (T, B, *) ((B, T, *) with batch_first), T the longest
    L_i, padding with padding_value on the right (or left). As ATen: a filled tensor into whose slices each
    sequence is copied, so the result's node is CopySlices.

    >>> import fgrad as torch
    >>> from fgrad.nn.utils.rnn import pad_sequence
    >>> pad_sequence([torch.ones(2), torch.ones(1)], batch_first=True)
    tensor([[1., 1.],
            [1., 0.]])
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for seq in sequences[1:]:
        for dim, (a, b) in enumerate(zip(tuple(seq.shape[1:]), trailing), start=1):
            if a != b:
                raise _broadcast_error(b, a, dim)     # a: the output slice, b: the sequence (copy_)
    longest = max(seq.shape[0] for seq in sequences)
    count = len(sequences)
    shape = ((count, longest) if batch_first else (longest, count)) + trailing
    out = make(np.full(shape, padding_value, dtype=sequences[0]._data.dtype))
    for i, seq in enumerate(sequences):
        length = seq.shape[0]
        steps = slice(longest - length, longest) if padding_side == "left" else slice(0, length)
        if batch_first:
            out[i, steps] = seq
        else:
            out[steps, i] = seq
    return out
