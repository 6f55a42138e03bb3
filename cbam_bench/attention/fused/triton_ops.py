"""Fused CBAM's map-sized passes on CUDA: triton_kernels.py's kernels launched, same calls as torch_ops.

Nothing here waits for the device or allocates a size that depends on values, so the passes can
be recorded in a CUDA graph. Each reduction (pooling over positions, the descriptor over
channels, and their gradients) is cut into chunks so that enough programs run at once to keep
the memory busy, whatever the map's shape (`_chunks`).
"""

from __future__ import annotations

import functools

import torch
import triton

from cbam_bench.attention.fused.triton_kernels import (
    describe_kernel,
    finish_kernel,
    gate_kernel,
    gate_norm_kernel,
    grad_input_kernel,
    grad_mc_kernel,
    grad_ms_kernel,
    pool_kernel,
)

BLOCK_C = 32
BLOCK_HW = 128
PROGRAMS_PER_MULTIPROCESSOR = 4  # a reduction's programs resident per multiprocessor, to keep memory busy


def _strides(t: torch.Tensor) -> tuple[int, int, int, int]:
    return tuple(t.stride())  # type: ignore[return-value]


def _block(size: int, cap: int) -> int:
    return min(cap, triton.next_power_of_2(size))


@functools.cache
def _multiprocessors(device: torch.device) -> int:
    """The GPU's multiprocessors; on the CPU, where only Triton's interpreter runs these, a nominal
    four, so the tests' small maps are cut into chunks too."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4


def _chunks(length: int, block: int, programs: int, device: torch.device) -> tuple[int, int]:
    """How a reduction over `length` (in blocks of `block`) is cut so that, with `programs` programs
    per chunk, PROGRAMS_PER_MULTIPROCESSOR are resident on every multiprocessor: (chunk, chunks).

    One program per (image, block of channels) is 64 programs at 8x256x56x56, half an H100's 132
    multiprocessors, each streaming 25 blocks alone; too few loads in flight to keep the memory busy."""
    blocks = triton.cdiv(length, block)
    wanted = triton.cdiv(PROGRAMS_PER_MULTIPROCESSOR * _multiprocessors(device), programs)
    chunk = triton.cdiv(blocks, max(1, min(blocks, wanted))) * block
    return chunk, triton.cdiv(length, chunk)


def _grid_blocks(x: torch.Tensor) -> tuple[int, int, int, int, int, int]:
    n, c, h, w = x.shape
    return n, c, h * w, w, _block(c, BLOCK_C), _block(h * w, BLOCK_HW)


def _finish(parts: tuple[torch.Tensor, ...], outs: tuple[torch.Tensor, ...], orow: int, arow: int) -> None:
    """Combine (n, S, L) partial sums, maxima and positions into outs; `orow`, `arow`: the outputs' row strides."""
    n, _, length = parts[0].shape
    bl = _block(length, BLOCK_HW)
    finish_kernel[(n, triton.cdiv(length, bl))](*parts, parts[0].shape[1], length, *outs, orow, arow, BL=bl)


def _partials(n: int, chunks: int, length: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    sums, maxima = (torch.empty(n, chunks, length, device=device) for _ in range(2))
    return sums, maxima, torch.empty(n, chunks, length, device=device, dtype=torch.int32)


def pool(x: torch.Tensor, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Average and max of every channel over its positions (in `dtype`, x's by default), and each max's position."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    channel_blocks = triton.cdiv(c, bc)
    chunk, chunks = _chunks(hw, bhw, n * channel_blocks, x.device)
    parts = _partials(n, chunks, c, x.device)
    pool_kernel[(n, channel_blocks, chunks)](x, *parts, c, hw, w, *_strides(x), chunk, chunks * c, BC=bc, BHW=bhw)
    if chunks == 1:
        avg, mx, where = (part.view(n, c) for part in parts)
    else:
        avg, mx, where = (torch.empty(n, c, device=x.device, dtype=part.dtype) for part in parts)
        _finish(parts, (avg, mx, where), c, c)
    return avg.to(dtype or x.dtype), mx.to(dtype or x.dtype), where


def describe(
    x: torch.Tensor, mc: torch.Tensor, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor, None]:
    """Channel mean and max of x * mc as (N, 2, H, W) in `dtype` (x's by default), and the channel of each max."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    position_blocks = triton.cdiv(hw, bhw)
    chunk, chunks = _chunks(c, bc, n * position_blocks, x.device)
    desc = torch.empty(n, 2, *x.shape[2:], device=x.device, dtype=dtype or x.dtype)
    where = torch.empty(n, hw, device=x.device, dtype=torch.int32)
    outs = (desc, desc[:, 1], where)
    parts, prow, arow = (outs, 2 * hw, hw) if chunks == 1 else (_partials(n, chunks, hw, x.device), *(chunks * hw,) * 2)
    describe_kernel[(n, position_blocks, chunks)](
        x, mc.contiguous(), *parts, c, hw, w, *_strides(x), chunk, prow, arow, BC=bc, BHW=bhw
    )
    if chunks > 1:
        _finish(parts, outs, 2 * hw, hw)
    return desc, where, None


def gate(x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor, scratch: None) -> torch.Tensor:
    """F * Mc * Ms, in x's dtype and memory format."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    out = torch.empty_like(x)
    grid = (n, triton.cdiv(c, bc), triton.cdiv(hw, bhw))
    gate_kernel[grid](x, mc.contiguous(), ms.contiguous(), out, c, hw, w, *_strides(x), *_strides(out), BC=bc, BHW=bhw)
    return out


def gate_normed(
    x: torch.Tensor,
    mc: torch.Tensor,
    z: torch.Tensor,
    stats: torch.Tensor,
    norm_w: torch.Tensor | None,
    norm_b: torch.Tensor | None,
    ms: torch.Tensor,
) -> torch.Tensor:
    """F * Mc * Ms with Ms = sigmoid of z normalised (stats: mean, 1/std; no norm: z as it is),
    written into `ms` (N, H * W) float32 on the way; the output in x's dtype and memory format."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    out = torch.empty_like(x)
    has_norm = norm_w is not None
    grid = (n, triton.cdiv(c, bc), triton.cdiv(hw, bhw))
    gate_norm_kernel[grid](
        x, mc.contiguous(), z, stats, norm_w if has_norm else stats, norm_b if has_norm else stats, ms, out, c, hw, w,
        *_strides(x), *_strides(out), HAS_NORM=has_norm, BC=bc, BHW=bhw,
    )  # fmt: skip
    return out


def grad_ms(g: torch.Tensor, x: torch.Tensor, mc: torch.Tensor, ms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dms as (N, H, W) float32; g is handed on as grad_mc's first argument (which reads ms itself)."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    position_blocks = triton.cdiv(hw, bhw)
    chunk, chunks = _chunks(c, bc, n * position_blocks, x.device)
    part = torch.empty(n, chunks, *x.shape[2:], device=x.device, dtype=torch.float32)
    grad_ms_kernel[(n, position_blocks, chunks)](
        g, x, mc.contiguous(), part, c, hw, w, *_strides(x), *_strides(g), chunk, BC=bc, BHW=bhw
    )
    return (part.view(n, *x.shape[2:]) if chunks == 1 else part.sum(dim=1)), g


def grad_mc(
    g: torch.Tensor, x: torch.Tensor, ms: torch.Tensor, d_desc: torch.Tensor, where_c: torch.Tensor
) -> torch.Tensor:
    """dL/dmc as (N, C) float32, through the gating and the descriptor (whose gradient is d_desc)."""
    n, c, hw, w, bc, bhw = _grid_blocks(x)
    channel_blocks = triton.cdiv(c, bc)
    chunk, chunks = _chunks(hw, bhw, n * channel_blocks, x.device)
    part = torch.empty(n, chunks, c, device=x.device, dtype=torch.float32)
    grad_mc_kernel[(n, channel_blocks, chunks)](
        g, x, ms.contiguous(), d_desc.contiguous(), where_c, part, c, hw, w, *_strides(x), *_strides(g), chunk,
        BC=bc, BHW=bhw,
    )  # fmt: skip
    return part.view(n, c) if chunks == 1 else part.sum(dim=1)


def grad_input(
    g: torch.Tensor,
    mc: torch.Tensor,
    ms: torch.Tensor,
    d_desc: torch.Tensor,
    where_c: torch.Tensor,
    d_pool: tuple[torch.Tensor, torch.Tensor],
    where_hw: torch.Tensor,
) -> torch.Tensor:
    """dL/dx in g's dtype and memory format."""
    n, c, hw, w, bc, bhw = _grid_blocks(g)
    dx = torch.empty_like(g)
    d_avg, d_mx = (d.float().contiguous() for d in d_pool)
    grid = (n, triton.cdiv(c, bc), triton.cdiv(hw, bhw))
    grad_input_kernel[grid](
        g,
        mc.contiguous(),
        ms.contiguous(),
        d_desc.contiguous(),
        where_c,
        d_avg,
        d_mx,
        where_hw,
        dx,
        c,
        hw,
        w,
        *_strides(g),
        *_strides(dx),
        BC=bc,
        BHW=bhw,
    )
    return dx
