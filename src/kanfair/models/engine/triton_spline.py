"""The Triton kernel of kanfair.models.engine.gpu_kernels (which says why and how it is used),
apart so that Triton is imported only where a CUDA tensor meets the engine."""
import triton
import triton.language as tl


@triton.jit
def spline_kernel(x_ptr, knots_ptr, out_ptr, values_ptr, slopes_ptr, grad_x_ptr, n, n_basis,
                  n_cells, grid_size, knot_stride, K: tl.constexpr, BLOCK_J: tl.constexpr,
                  BLOCK_N: tl.constexpr, BACKWARD: tl.constexpr):
    """One batch row's block of BLOCK_N inputs: their basis (BLOCK_J >= G+K rows) into
    out (B, G+K, n); with BACKWARD, first read d loss/d basis from out and write
    d loss/dx. The tables hold the pieces' (and their slopes') coefficients / K!."""
    b = tl.program_id(0).to(tl.int64)  # offsets past 2**31 in large batches
    i = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    j = tl.arange(0, BLOCK_J)
    in_n = i < n
    x = tl.load(x_ptr + b * n + i, mask=in_n, other=0.0)
    knot_row = knots_ptr + i * knot_stride
    t0 = tl.load(knot_row, mask=in_n, other=0.0)
    inv_h = grid_size / (tl.load(knot_row + grid_size + K, mask=in_n, other=1.0)
                         - tl.load(knot_row + K, mask=in_n, other=0.0))
    if K > 0:
        c = tl.floor((x - t0) * inv_h)
        inside = (c >= 0) & (c < n_cells)  # NaN compares false: cell 0, u stays NaN
        cell = tl.where(inside, c, 0.0).to(tl.int32)
    else:  # the indicator jumps at every knot: the recursion's t_j <= x < t_{j+1}
        count = tl.zeros([BLOCK_N], dtype=tl.int32) - 1
        for k in range(0, n_cells + 1):
            count += (x >= tl.load(knot_row + k, mask=in_n, other=0.0)).to(tl.int32)
        inside = (count >= 0) & (count < n_cells)
        cell = tl.where(inside, count, 0)
    left = tl.load(knot_row + cell, mask=in_n, other=0.0)
    u = tl.clamp((x - left) * inv_h, 0.0, 1.0, propagate_nan=tl.PropagateNan.ALL)
    inside_scale = inside.to(x.dtype)[None, :]  # 0 outside the grid (NaN * 0 stays NaN)

    r = j[:, None] + K - cell[None, :]  # the piece basis function j takes
    tile = (j[:, None] < n_basis) & in_n[None, :]
    valid = (r >= 0) & (r <= K) & tile
    uu = u[None, :]
    value = tl.load(values_ptr + K * (K + 1) + r, mask=valid, other=0.0)
    for d in tl.static_range(K - 1, -1, -1):  # Horner's rule
        value = value * uu + tl.load(values_ptr + d * (K + 1) + r, mask=valid, other=0.0)
    value = tl.where(valid, value, 0.0) * inside_scale  # masked rows: 0, even for NaN u
    offsets = (b * n_basis + j[:, None]) * n + i[None, :]
    if BACKWARD:
        grad = tl.load(out_ptr + offsets, mask=tile, other=0.0)
        slope = tl.zeros([BLOCK_J, BLOCK_N], dtype=value.dtype)
        if K > 0:
            slope = tl.load(slopes_ptr + (K - 1) * (K + 1) + r, mask=valid, other=0.0)
            for d in tl.static_range(K - 2, -1, -1):
                slope = slope * uu + tl.load(slopes_ptr + d * (K + 1) + r, mask=valid, other=0.0)
        grad_x = tl.sum(grad * slope * inside_scale, axis=0) * inv_h
        tl.store(grad_x_ptr + b * n + i, grad_x, mask=in_n)
    tl.store(out_ptr + offsets, value, mask=tile)
