"""A KV cache that writes each decoding step into room kept ahead, instead of concatenating.

transformers' DynamicLayer grows by `torch.cat`: every step copies the whole cache, at a cost that
grows with the batch (8 photos x 7 aspects) and with every step. This layer keeps its keys
and values in buffers with room for ROOM more positions and writes each step into them; `keys`
and `values` are views of the filled part, so everything that reads them (attention, the mask
sizes) sees an ordinary cache. Whatever replaces them (rows leaving the batch, a crop) is
noticed at the next write and moved into a new buffer.

Imported by generation only when a cache is made: it needs transformers' cache classes (per-layer since 4.56).
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer

ROOM = 64  # positions allocated ahead: one new buffer per 64 steps instead of a copy per step


class RoomyLayer(DynamicLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None  # (B, H, capacity, d) each

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if self._buffers is None:  # let the base class set itself up (its way differs by release)
            super().update(key_states[:, :, :0], value_states[:, :, :0])
        n, t = self.get_seq_length(), key_states.shape[-2]
        if not self._fits(n + t):  # first write, out of room, or keys replaced (rows dropped)
            self._buffers = (_with_room(self.keys, key_states, n + t + ROOM),
                             _with_room(self.values, value_states, n + t + ROOM))
        k, v = self._buffers
        k[:, :, n:n + t] = key_states
        v[:, :, n:n + t] = value_states
        self.keys, self.values = k[:, :, :n + t], v[:, :, :n + t]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep `indices` of the batch: one copy, room included."""
        if self._buffers is None:
            return super().batch_select_indices(indices)
        n = self.get_seq_length()
        self._buffers = tuple(b[indices] for b in self._buffers)
        self.keys, self.values = (b[:, :, :n] for b in self._buffers)

    def _fits(self, length: int) -> bool:
        """Are keys still the start of the buffer, with room for `length` positions?"""
        if self._buffers is None:
            return False
        k = self._buffers[0]
        return (self.keys.data_ptr() == k.data_ptr() and self.keys.shape[0] == k.shape[0]
                and length <= k.shape[2])


def _with_room(old: torch.Tensor, new: torch.Tensor, capacity: int) -> torch.Tensor:
    """A (B, H, capacity, d) buffer shaped like `new`, starting with `old`'s positions (if any)."""
    B, H, _, d = new.shape
    buf = new.new_empty(B, H, capacity, d)
    if old.numel():
        buf[:, :, :old.shape[2]] = old
    return buf


def roomy_cache() -> Cache:
    return Cache(layer_class_to_replicate=RoomyLayer)


def crop(cache: Cache, length: int) -> None:
    """Keep the first `length` positions of every layer (the guesses a drafted pass rejected go).
    The kept part is a view of the same buffer, so the next write lands right after it."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[:, :, :length], layer.values[:, :, :length]


def crop_left(cache: Cache, start: int) -> None:
    """Drop every layer's first `start` positions (columns no row uses any more). The next write
    finds the keys no longer at their buffer's start and moves them into a new one."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]
