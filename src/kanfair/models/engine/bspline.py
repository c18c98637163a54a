"""The B-spline engine: exact B-spline bases on uniform grids, in closed form, with analytic backward.

Convention (pykan / efficient-kan / KANbeFair): G intervals over [a, b], extended by K
knots on each side, t_j = a + (j - K)·h with h = (b - a)/G, j = 0..G+2K. There are G + K
basis functions of order K; B_j is supported on [t_j, t_{j+K+1}) and all are zero
outside [t_0, t_{G+2K}).

Why it is fast: on a uniform grid every B_j is a translate of one cardinal B-spline, so
for an input in cell c (t_c <= x < t_{c+1}) with local coordinate u in [0, 1) only
B_{c-K}..B_c are non-zero, and their values are the K+1 uniform-B-spline pieces of u:
fixed polynomials of degree K. Eager PyTorch evaluates them as the powers of u times a
(K+1) x (K+1) coefficient matrix (derived once by running the de Boor triangle on
polynomials); under torch.compile the de Boor triangle itself runs in one fused loop; the
fused spline ops (spline_linear, spline_activation) build the dense basis in one pass with
kernels: C++ on CPU (kanfair.models.engine.native), Triton on CUDA (kanfair.models.engine.gpu_kernels).
Each way O(K^2) work per input, instead of the Cox-de Boor recursion over every basis function
(O(K·(G+2K))). The cell is floor((x - t_0)/h); for K = 0, where the basis jumps at every
knot, it comes from comparisons with the knot table, so that inputs exactly on a knot land
in the same cell as under the recursion's `t_j <= x < t_{j+1}`.

The autograd Functions keep the dense basis alive between forward and backward only for a
first layer, and only while it is small (KEEP_BASIS_MAX_BYTES): the basis and activation
Functions save x; the spline-linear Function saves x (with the kernels) or x and each
input's cell, local coordinate and K+1 non-zero values (not the G+K dense ones), and
backward rebuilds the dense basis and its derivative in x. Under create_graph=True (second
derivatives) backward instead rebuilds the output from x with differentiable ops and lets
autograd differentiate it, so the gradients can be differentiated again.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Sequence, Union

import torch

from kanfair.models.engine import gpu_kernels, native
from kanfair.models.engine.pieces import de_boor_step, piece_polynomials

GridRange = Union[Sequence[float], torch.Tensor]
# A first layer (input without gradient) keeps its dense basis from forward for the weight
# gradient when it is at most this size (a KAN [784, 16, 10] epoch at batch 128, 3.2 MB:
# 1.62 s -> 1.32 s in scripts/bench_epoch.py); larger ones are rebuilt, to bound memory.
KEEP_BASIS_MAX_BYTES = 64 * 2**20


def make_knots(grid_size: int, spline_order: int, grid_range: GridRange = (-1.0, 1.0),
               dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Extended knot table: shape (G+2K+1,) for one range (a, b), or (n, G+2K+1) for a
    tensor of per-input ranges of shape (n, 2), on the ranges' device unless `device` says
    otherwise. Computed in float64, then cast."""
    ranges = torch.as_tensor(grid_range, dtype=torch.float64)
    low, high = ranges[..., 0:1], ranges[..., 1:2]
    step = (high - low) / grid_size
    j = torch.arange(grid_size + 2 * spline_order + 1, dtype=torch.float64, device=ranges.device)
    knots = low + (j - spline_order) * step
    return knots.to(dtype=dtype, device=device or ranges.device)


class ExactKnots(torch.nn.Module):
    """A layer whose `knots` buffer follows a dtype change exactly: `.double()` rebuilds
    the table in float64 from its range instead of casting float32-rounded knots (which
    would put the basis's jumps ~1e-9 off the float64 grid). The range is the configured
    `grid_range` when the table is that range's, else the table's own end knots (a grid
    moved to the data, e.g. by a KAN's update_grid); nothing else is stored, so a loaded
    state dict is followed too."""

    grid_size: int
    spline_order: int
    grid_range: GridRange

    def _apply(self, fn, recurse: bool = True):
        before = self.knots
        super()._apply(fn, recurse)
        if self.knots.dtype != before.dtype and self.knots.is_floating_point():
            configured = make_knots(self.grid_size, self.spline_order, self.grid_range, before.dtype,
                                    before.device)
            ends = before.double()[..., [self.spline_order, self.grid_size + self.spline_order]]
            exact_range = self.grid_range if torch.equal(before, configured.expand_as(before)) else ends
            self.knots = make_knots(self.grid_size, self.spline_order, exact_range, self.knots.dtype,
                                    self.knots.device)
        return self


def _locate(x: torch.Tensor, knots: torch.Tensor, grid_size: int, spline_order: int):
    """Cell index c in [0, G+2K-1], local coordinate u in [0, 1], inside-grid mask, 1/h.

    For K >= 1 the basis is continuous, so the cell comes from floor((x - t_0)/h): an input
    within rounding of a knot may land in the neighbouring cell, where the pieces take the
    same values. For K = 0 (discontinuous at every knot) the cell comes from comparisons
    with the knot table, exactly as the recursion's t_j <= x < t_{j+1}."""
    n_cells = grid_size + 2 * spline_order
    inv_h = grid_size / (knots[..., grid_size + spline_order] - knots[..., spline_order])
    if spline_order > 0:
        cell = ((x - knots[..., 0]) * inv_h).floor()
        inside = (cell >= 0) & (cell < n_cells)
        # an outside input takes cell 0, where `inside` zeroes its pieces; so does NaN (it
        # compares false), but its u stays NaN, so its basis is NaN as the recursion's
        cell = torch.where(inside, cell, 0.0).long()
    else:
        if knots.dim() == 1:
            cell = torch.bucketize(x, knots, right=True) - 1
        else:
            cell = (x.unsqueeze(-1) >= knots).sum(-1) - 1
        inside = (cell >= 0) & (cell < n_cells)
        cell = cell.clamp_(0, n_cells - 1)
    if knots.dim() == 1:
        left = _lookup(knots, cell)
    else:
        left = knots.expand(*cell.shape, knots.shape[-1]).gather(-1, cell.unsqueeze(-1)).squeeze(-1)
    # measured from the cell's own knot: float32 error ~1e-7, not ~c·1e-7 as from t_0
    raw = (x - left) * inv_h
    u = raw.clamp(0.0, 1.0)
    if raw.requires_grad:
        # autograd's path (create_graph): the clamp only undoes rounding at a knot, where
        # the pieces meet, so du/dx stays 1/h there (clamp's own gradient would be 0)
        u = raw + (u - raw).detach()
    return cell, u, inside, inv_h


def _lookup(table: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """table[cell] for a table indexed by cell along dim 0 (index_select: ~4x faster than
    advanced indexing on CPU)."""
    return table.index_select(0, cell.reshape(-1)).view(*cell.shape, *table.shape[1:])


def _cell_tables(grid_size: int, spline_order: int, dtype: torch.dtype,
                 device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cell c: the basis indices c-K..c clamped into range, and 1/K! where they exist
    (0 where they do not), the normalisation the integer piece polynomials leave out. The
    weight table has one more row, of zeros, for inputs outside the grid."""
    n_basis = grid_size + spline_order
    index = (torch.arange(grid_size + 2 * spline_order, device=device).unsqueeze(-1)
             + torch.arange(-spline_order, 1, device=device))
    weight = ((index >= 0) & (index < n_basis)).to(dtype) / math.factorial(spline_order)
    return index.clamp(0, n_basis - 1), torch.cat([weight, weight.new_zeros(1, spline_order + 1)])


def _make_constants(grid_size: int, spline_order: int, dtype: torch.dtype,
                    device) -> tuple[torch.Tensor, ...]:
    """The tables `_constants` returns, as normal tensors even under inference_mode (a
    create_graph backward saves them)."""
    with torch.inference_mode(False):
        return (*_cell_tables(grid_size, spline_order, dtype, device),
                *piece_polynomials(spline_order, dtype, device))


_cached_constants = functools.lru_cache(maxsize=None)(_make_constants)


def _constants(grid_size: int, spline_order: int, dtype: torch.dtype,
               device) -> tuple[torch.Tensor, ...]:
    """Index table, weight table, piece and slope coefficients, made once per grid, dtype
    and device: on a GPU a fresh coefficient tensor is a host-to-device copy that waits for
    the queue. Made afresh while jit tracing (fvcore's FLOP count), where a tensor from an
    earlier trace breaks the next one."""
    if torch.jit.is_tracing():
        return _make_constants(grid_size, spline_order, dtype, device)
    return _cached_constants(grid_size, spline_order, dtype, device)


def _powers(u: torch.Tensor, count: int) -> torch.Tensor:
    """(count, *u.shape): 1, u, u^2, ..., one contiguous row each."""
    if u.requires_grad:  # second-derivative path: out= buffers are not differentiable
        return torch.stack(list(itertools.accumulate([u] * (count - 1), torch.mul,
                                                     initial=torch.ones_like(u))))
    out = u.new_empty(count, *u.shape)
    out[:1] = 1.0  # count 0: the slopes of K = 0 need no powers
    for d in range(1, count):
        torch.mul(out[d - 1], u, out=out[d])
    return out


def _polynomial(powers: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """sum_d powers[d] · coefficients[d, r] as (..., K+1), one small matmul. Where float32
    matmuls may run in TF32 or bf16 (torch.set_float32_matmul_precision), in float64: the
    basis must stay exact."""
    flat = powers.flatten(1).t()
    if flat.dtype == torch.float32 and torch.get_float32_matmul_precision() != "highest":
        out = (flat.double() @ coefficients.double()).float()
    else:
        out = flat @ coefficients
    return out.view(*powers.shape[1:], coefficients.shape[1])


class _Pieces:
    """The K+1 non-zero basis values of each input, their placement, and with `derivative`
    their slopes, such that dB/dx = slope * slope_scale (a per-input factor applied once).

    Two ways to the same numbers. Eager PyTorch evaluates the pieces as polynomials in u
    (powers of u times a small coefficient matrix: a few passes over memory) and scatters
    them into the dense basis through per-cell index tables. Under torch.compile the de
    Boor triangle is one fused loop; its pieces and the cell are stacked into one tensor,
    computed once per input, and each basis function j selects piece j - c + K."""

    def __init__(self, cell: torch.Tensor, u: torch.Tensor, inside: torch.Tensor,
                 inv_h: torch.Tensor, grid_size: int, spline_order: int, derivative: bool,
                 fused: bool = False, values: torch.Tensor | None = None):
        """`values`: the pieces from an earlier eager call with the same cells (backward
        passes forward's), so that only the slopes are computed."""
        self.cell, self.order, self.n_basis = cell, spline_order, grid_size + spline_order
        self.fused = fused
        if fused:
            self._fused_pieces(u, inside, inv_h, derivative)
            return
        index_table, weight_table, coefficients, slope_coefficients = _constants(
            grid_size, spline_order, u.dtype, u.device)
        self.index, self.values = _lookup(index_table, cell), values
        if values is not None and not derivative:
            return  # backward of a layer whose input needs no gradient: the first one
        weight = _lookup(weight_table, torch.where(inside, cell, grid_size + 2 * spline_order))
        powers = _powers(u, spline_order + 1 if values is None else spline_order)
        if values is None:
            self.values = _polynomial(powers, coefficients).mul_(weight)
        if derivative:
            self.slopes = _polynomial(powers[:spline_order], slope_coefficients).mul_(weight)
            self.slope_scale = inv_h

    def _fused_pieces(self, u: torch.Tensor, inside: torch.Tensor, inv_h: torch.Tensor,
                      derivative: bool) -> None:
        order = self.order
        lower = [inside.to(u.dtype)]  # order K-1 pieces times (K-1)!, zero outside the grid
        v = 1.0 - u
        for k in range(1, order):
            lower = de_boor_step(u, v, lower, k)
        rows = de_boor_step(u, v, lower, order) if order > 0 else lower
        if derivative:
            zero = torch.zeros_like(u)
            padded = [zero, *lower, zero]  # dN_K/ds = N_{K-1}(s) - N_{K-1}(s - 1)
            rows = [*rows, *(padded[r] - padded[r + 1] for r in range(order + 1))]
            self.slope_scale = inv_h * order  # rows carry 1/K!; slopes need 1/(K-1)!
        # stacked, Inductor stores each input's pieces once; left inline, it recomputed
        # them for every basis function (the placement loop was ~3x slower)
        norm = 1.0 / math.factorial(order)
        *rows, self.cell = torch.stack([*(r * norm for r in rows),
                                        self.cell.to(u.dtype)]).unbind(0)
        self.values, self.slopes = rows[:order + 1], rows[order + 1:]

    def _select(self, pieces: list[torch.Tensor], basis_dim: int) -> torch.Tensor:
        """Basis function j takes piece j - c + K; the basis axis is inserted at `basis_dim`."""
        shape = [1] * (self.cell.dim() + 1)
        shape[basis_dim] = self.n_basis
        piece_of = (torch.arange(self.n_basis, device=self.cell.device, dtype=self.cell.dtype)
                    .view(shape) - self.cell.unsqueeze(basis_dim) + self.order)
        out = torch.zeros((), dtype=pieces[0].dtype, device=pieces[0].device)
        for r, piece in enumerate(pieces):
            out = torch.where(piece_of == r, piece.unsqueeze(basis_dim), out)
        return out

    def dense(self, basis_dim: int = -1) -> torch.Tensor:
        """The basis, (..., n, G+K); with `basis_dim=-2` (compiled only) (..., G+K, n), the
        layout in which Inductor's loops run along the contiguous inputs."""
        if self.fused:
            return self._select(self.values, basis_dim)
        out = self.values.new_zeros(*self.values.shape[:-1], self.n_basis)
        return out.scatter_add_(-1, self.index, self.values)

    def grad_input(self, grad_basis: torch.Tensor, basis_dim: int = -1) -> torch.Tensor:
        """d loss / dx from d loss / d basis, in the layout `dense(basis_dim)` gives."""
        if self.fused:
            per_input = (grad_basis * self._select(self.slopes, basis_dim)).sum(basis_dim)
        else:
            per_input = grad_basis.gather(-1, self.index).mul_(self.slopes).sum(-1)
        return per_input * self.slope_scale


def _pieces(x: torch.Tensor, knots: torch.Tensor, grid_size: int, spline_order: int,
            derivative: bool, fused: bool) -> _Pieces:
    return _Pieces(*_locate(x, knots, grid_size, spline_order), grid_size, spline_order,
                   derivative, fused)


def _differentiable_dense(x: torch.Tensor, knots: torch.Tensor, grid_size: int,
                          spline_order: int) -> torch.Tensor:
    """The dense basis from the eager pieces, built from ops autograd can differentiate
    (twice too): what a create_graph backward rebuilds."""
    return _pieces(x, knots, grid_size, spline_order, False, False).dense()


def _grads_by_autograd(rebuild, inputs: Sequence[torch.Tensor], needs: Sequence[bool],
                       grad_output: torch.Tensor) -> list[torch.Tensor | None]:
    """Backward under create_graph=True (second derivatives, e.g. physics-informed losses):
    rebuild the output from the eager pieces, ops that autograd can differentiate again,
    and let autograd differentiate them, so that the gradients carry a graph. Slower than
    the analytic backward, and taken only there."""
    wanted = [t for t, need in zip(inputs, needs) if need]
    grads = iter(torch.autograd.grad(rebuild(), wanted, grad_output, create_graph=True))
    return [next(grads) if need else None for need in needs]


class _BasisFunction(torch.autograd.Function):
    """Dense basis (..., n, G+K) with a backward that recomputes from x."""

    @staticmethod
    def forward(ctx, x, knots, grid_size, spline_order):
        ctx.save_for_backward(x, knots)
        ctx.grid = (grid_size, spline_order)
        return _pieces(x, knots, grid_size, spline_order, False, torch.compiler.is_compiling()).dense()

    @staticmethod
    def backward(ctx, grad_basis):
        x, knots = ctx.saved_tensors
        if torch.is_grad_enabled():
            grad_x, = _grads_by_autograd(lambda: _differentiable_dense(x, knots, *ctx.grid),
                                         [x], [True], grad_basis)
            return grad_x, None, None, None
        pieces = _pieces(x, knots, *ctx.grid, True, torch.compiler.is_compiling())
        return pieces.grad_input(grad_basis), None, None, None


def _kernels(x: torch.Tensor, spline_order: int):
    """The module whose one-pass kernels serve x (C++ on CPU, Triton on CUDA; both give
    `basis` and `grad_input_`), or None: PyTorch ops."""
    if native.usable(x, spline_order):
        return native
    return gpu_kernels if gpu_kernels.usable(x) and gpu_kernels_pass(x.device) else None


@functools.lru_cache(maxsize=None)
def gpu_kernels_pass(device: torch.device) -> bool:
    """At the Triton kernels' first use on a device: their basis and input gradient
    against the PyTorch-ops engine on a probe batch (orders 0, 1 and 3; inputs inside, on
    knots and outside the grid). A compile error or a mismatch beyond float32 rounding
    turns them off for the process (gpu_kernels.turn_off: one warning), never a wrong
    number."""
    try:
        with torch.inference_mode(False):  # grad on (its guard sets it): a first use may be in evaluation
            _probe_gpu_kernels(device)
    except Exception as error:  # a compile error on this GPU, a wrong value
        gpu_kernels.turn_off(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        return False
    return True


def _probe_gpu_kernels(device: torch.device) -> None:
    """Raise unless the kernels give the PyTorch-ops engine's basis and input gradient."""
    for order in (0, 1, 3):
        knots = make_knots(4, order, (-1.0, 1.0), device=device)
        x = torch.linspace(-1.5, 1.5, 25, device=device).repeat(2, 1)  # knots at -1, -0.5, 0 ...
        probe = x.clone().requires_grad_()
        reference = bspline_basis(probe, 4, order, knots=knots).transpose(1, 2)
        weights = torch.linspace(-1.0, 1.0, reference.numel(), device=device).view_as(reference)
        (reference * weights).sum().backward()
        basis = gpu_kernels.basis(x, knots, 4, order)
        grad = gpu_kernels.grad_input_(weights.clone(), x, knots, 4, order)
        error = max((basis - reference).abs().max().item(), (grad - probe.grad).abs().max().item())
        if not error <= 1e-4:
            raise ValueError(f"order {order}: {error:.2g} from the PyTorch-ops engine")


class _SplineLinearFunction(torch.autograd.Function):
    """y = basis(x).flatten(1) @ weight.flatten(1).T, mostly without keeping the dense basis
    alive: backward rebuilds it (and its derivative in x) from what forward saved. Where kernels
    serve the input (`_kernels`) they write the basis in the (B, G+K, n) layout, and forward
    saves only x (and, for an input that needs no gradient, the basis itself up to
    KEEP_BASIS_MAX_BYTES, so that backward need not rebuild it); otherwise PyTorch ops
    build it, and eager forward also saves each input's cell, local coordinate and K+1
    non-zero values. Compiled (or with kernels), the basis is laid out (B, G+K, n) and the
    weight permuted to match, so that the loops run along the inputs (scaled_spline_weight
    writes KANLinear's weight in that layout, so the permuted weight is a view, and so is
    its gradient)."""

    @staticmethod
    def forward(ctx, x, weight, knots, grid_size, spline_order):
        ctx.grid = (grid_size, spline_order)
        ctx.kernels = _kernels(x, spline_order)
        ctx.fused = ctx.kernels is None and torch.compiler.is_compiling()
        ctx.basis_dim = -2 if ctx.kernels or ctx.fused else -1
        if ctx.kernels:
            dense = ctx.kernels.basis(x, knots, grid_size, spline_order)
            keep = (not ctx.needs_input_grad[0]
                    and dense.numel() * dense.element_size() <= KEEP_BASIS_MAX_BYTES)
            ctx.save_for_backward(x, weight, knots, *([dense] if keep else []))
        else:
            located = _locate(x, knots, grid_size, spline_order)
            pieces = _Pieces(*located, grid_size, spline_order, False, ctx.fused)
            # eager: keep the K+1 values per input (not the dense basis) for backward;
            # compiled: the recomputation fuses into backward's loops
            ctx.save_for_backward(x, weight, knots, *located,
                                  *([] if ctx.fused else [pieces.values]))
            dense = pieces.dense(ctx.basis_dim)
        return dense.flatten(1) @ _as_matrix(weight, ctx.basis_dim).t()

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, knots, *rest = ctx.saved_tensors  # rest: the kept basis, or the pieces
        grid_size, spline_order = ctx.grid
        need_x, need_w = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():
            def rebuild() -> torch.Tensor:
                dense = _differentiable_dense(x, knots, grid_size, spline_order)
                return dense.flatten(1) @ weight.flatten(1).t()
            grad_x, grad_w = _grads_by_autograd(rebuild, [x, weight], [need_x, need_w], grad_out)
            return grad_x, grad_w, None, None, None
        if ctx.kernels:
            grad_x, grad_w = _kernel_grads(ctx.kernels, grad_out, x, weight, knots, ctx.grid,
                                           need_x, need_w, *rest)
        else:
            grad_x, grad_w = _pieces_grads(grad_out, weight, rest, ctx, need_x, need_w)
        return grad_x, grad_w, None, None, None


def _kernel_grads(kernels, grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                  knots: torch.Tensor, grid: tuple[int, int], need_x: bool, need_w: bool,
                  kept: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """d loss/dx and d loss/dweight (None where not needed) by the kernels: d loss/d
    basis is computed into the buffer that then receives the basis for the weight
    gradient; without d loss/dx, the basis forward kept (`kept`) or a rebuilt one."""
    grad_x = grad_w = None
    if need_x:
        dense = grad_out @ _as_matrix(weight, -2)
        grad_x = kernels.grad_input_(dense.view(x.shape[0], -1, x.shape[1]), x, knots, *grid)
    else:
        dense = (kernels.basis(x, knots, *grid) if kept is None else kept).flatten(1)
    if need_w:
        grad_w = _weight_grad(grad_out, dense, weight.shape, -2)
    return grad_x, grad_w


def _pieces_grads(grad_out: torch.Tensor, weight: torch.Tensor, located: list, ctx,
                  need_x: bool, need_w: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """d loss/dx and d loss/dweight (None where not needed) by PyTorch ops, from the
    cells and local coordinates (eager: and values) that forward saved."""
    cell, u, inside, inv_h, *values = located
    pieces = _Pieces(cell, u, inside, inv_h, *ctx.grid, need_x, ctx.fused,
                     values[0] if values else None)
    basis_dim = ctx.basis_dim
    grad_x = grad_w = dense = None
    if need_w:
        dense = pieces.dense(basis_dim).flatten(1)
        grad_w = _weight_grad(grad_out, dense, weight.shape, basis_dim)
    if need_x:
        # into the basis's memory once it is used: on CPU a fresh buffer this size costs
        # a page fault per 4 KiB on first touch
        grad_basis = torch.mm(grad_out, _as_matrix(weight, basis_dim), out=dense)
        grad_x = pieces.grad_input(grad_basis.view(-1, *_layout(weight.shape[1:], basis_dim)),
                                   basis_dim)
    return grad_x, grad_w


def _weight_grad(grad_out: torch.Tensor, dense: torch.Tensor, weight_shape: torch.Size,
                 basis_dim: int) -> torch.Tensor:
    """d loss/dweight (out, n, G+K) from the flat dense basis in the `basis_dim` layout."""
    grad = (grad_out.t() @ dense).view(-1, *_layout(weight_shape[1:], basis_dim))
    return grad if basis_dim == -1 else grad.transpose(1, 2)  # as scaled_spline_weight lays it out


class _SplineActivationFunction(torch.autograd.Function):
    """y[b, c] = sum_j coef[c, j] · B_j(x[b, c]) on the kernels: the basis laid out
    (B, G+K, C), the coefficients transposed to match, so that the products and sums run
    along the contiguous channels; backward rebuilds the basis as spline_linear's does."""

    @staticmethod
    def forward(ctx, x, coef, knots, grid_size, spline_order, kernels):
        ctx.save_for_backward(x, coef, knots)
        ctx.grid, ctx.kernels = (grid_size, spline_order), kernels
        basis = kernels.basis(x, knots, grid_size, spline_order)
        return (basis * coef.t().contiguous()).sum(1)

    @staticmethod
    def backward(ctx, grad_out):
        x, coef, knots = ctx.saved_tensors
        need_x, need_coef = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():
            def rebuild() -> torch.Tensor:
                return (_differentiable_dense(x, knots, *ctx.grid) * coef).sum(-1)
            grad_x, grad_coef = _grads_by_autograd(rebuild, [x, coef], [need_x, need_coef], grad_out)
            return grad_x, grad_coef, None, None, None, None
        grad_x = grad_coef = None
        if need_x:  # d loss/d basis, then the basis
            basis = (grad_out.unsqueeze(1) * coef.t().contiguous()).contiguous()
            grad_x = ctx.kernels.grad_input_(basis, x, knots, *ctx.grid)
        else:
            basis = ctx.kernels.basis(x, knots, *ctx.grid)
        if need_coef:
            grad_coef = (grad_out.unsqueeze(1) * basis).sum(0).t()
        return grad_x, grad_coef, None, None, None, None


class _ScaledWeightFunction(torch.autograd.Function):
    """scale[..., None] · coef (out, n, G+K), written in memory as (out, G+K, n)."""

    @staticmethod
    def forward(ctx, scale, coef):
        ctx.save_for_backward(scale, coef)
        out = coef.new_empty(coef.shape[0], coef.shape[2], coef.shape[1]).transpose(1, 2)
        return torch.mul(scale.unsqueeze(-1), coef, out=out)

    @staticmethod
    def backward(ctx, grad):
        scale, coef = ctx.saved_tensors
        need_scale, need_coef = ctx.needs_input_grad
        grad_scale = (grad * coef).sum(-1) if need_scale else None
        grad_coef = None
        if need_coef:  # transposed back in the one pass, into coef's own layout; under
            # create_graph, without out= (not differentiable)
            out = None if torch.is_grad_enabled() else torch.empty_like(coef)
            grad_coef = torch.mul(grad, scale.unsqueeze(-1), out=out)
        return grad_scale, grad_coef


def scaled_spline_weight(scale: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """A KAN layer's spline weight scale[..., None] · coef, (out, n, G+K) for scale (out, n)
    and coef (out, n, G+K), laid out in memory as (out, G+K, n): the layout of the kernels'
    basis, so that spline_linear's matrix products take it, and give back its gradient, as
    views. The parameters keep the usual layout (torch's LBFGS, for one, flattens each
    gradient with .view); the transposition happens inside the one pass that scales."""
    return _ScaledWeightFunction.apply(scale, coef)


def _layout(inputs_by_basis: torch.Size, basis_dim: int) -> tuple[int, int]:
    """(n, G+K) for basis_dim -1, (G+K, n) for -2."""
    n, n_basis = inputs_by_basis
    return (n, n_basis) if basis_dim == -1 else (n_basis, n)


def _as_matrix(weight: torch.Tensor, basis_dim: int) -> torch.Tensor:
    """weight (out, n, G+K) as the (out, features) matrix matching the basis layout."""
    return (weight if basis_dim == -1 else weight.transpose(1, 2)).flatten(1)


def bspline_basis(x: torch.Tensor, grid_size: int, spline_order: int,
                  grid_range: GridRange = (-1.0, 1.0), knots: torch.Tensor | None = None) -> torch.Tensor:
    """B-spline basis of order K on the uniform extended grid: (..., n) -> (..., n, G+K).

    `grid_range` is (a, b) for all inputs, or a tensor (n, 2) of per-input ranges; a
    precomputed `knots` table (from make_knots) takes precedence. Differentiable in x.
    """
    if knots is None:
        knots = make_knots(grid_size, spline_order, grid_range, x.dtype, x.device)
    return _BasisFunction.apply(x, knots.to(x.dtype), grid_size, spline_order)


def spline_linear(x: torch.Tensor, weight: torch.Tensor, knots: torch.Tensor,
                  grid_size: int, spline_order: int) -> torch.Tensor:
    """Fused KAN spline term: x (B, n), weight (out, n, G+K) -> (B, out), i.e.
    y[b, o] = sum_i sum_j weight[o, i, j] · B_j(x[b, i]). Differentiable in x and weight."""
    return _SplineLinearFunction.apply(x, weight, knots.to(x.dtype), grid_size, spline_order)


def spline_activation(x: torch.Tensor, coef: torch.Tensor, knots: torch.Tensor,
                      grid_size: int, spline_order: int) -> torch.Tensor:
    """One spline per channel: x (..., C), coef (C, G+K) -> (..., C), i.e.
    y[..., c] = sum_j coef[c, j] · B_j(x[..., c]). Differentiable in x and coef."""
    knots = knots.to(x.dtype)
    kernels = _kernels(x, spline_order)
    if kernels:
        flat = x.reshape(-1, x.shape[-1])
        return _SplineActivationFunction.apply(flat, coef, knots, grid_size, spline_order,
                                               kernels).view(x.shape)
    basis = bspline_basis(x, grid_size, spline_order, knots=knots)
    return torch.einsum("...cj,cj->...c", basis, coef)


# The basis with its first and second derivatives in x, from one evaluation of the cell's
# pieces: what a KAN layer's forward-mode (Taylor) derivatives need (kanfair.models.jet).
# On a cell the K+1 non-zero basis functions are polynomials in u = (x - t_c)/h, so
# d^m B/dx^m is the m-th derivative of those polynomials times 1/h^m: one table of powers
# of u serves the value and every derivative. The backward (d loss/dx, first order only: a
# forward-mode loss is differentiated once) takes the next derivative, d3B/dx3 for the
# second; autograd would differentiate the basis twice for what these closed forms give.


def _derivative_coefficients(spline_order: int, order: int, dtype: torch.dtype, device) -> torch.Tensor:
    """Rows d: the coefficient of u^d in d^order/du^order of K!·piece r, (K+1-order, K+1)."""
    coefficients = piece_polynomials(spline_order, dtype, device)[0]
    for _ in range(order):
        degree = torch.arange(1, coefficients.shape[0], dtype=dtype, device=device).unsqueeze(-1)
        coefficients = coefficients[1:] * degree
    return coefficients


def basis_derivatives(x: torch.Tensor, knots: torch.Tensor, grid_size: int, spline_order: int,
                      orders: tuple[int, ...]) -> list[torch.Tensor]:
    """d^m B/dx^m for each m in `orders`, each dense (..., n, G+K); zero for m > K. Not
    differentiable (basis_jet is)."""
    x = x.detach()
    cell, u, inside, inv_h = _locate(x, knots, grid_size, spline_order)
    index_table, weight_table = _constants(grid_size, spline_order, x.dtype, x.device)[:2]
    index = _lookup(index_table, cell)
    weight = _lookup(weight_table, torch.where(inside, cell, grid_size + 2 * spline_order))  # carries 1/K!
    powers = _powers(u, spline_order + 1)
    scale = inv_h.unsqueeze(-1) if inv_h.dim() else inv_h
    dense = []
    for order in orders:
        out = x.new_zeros(*x.shape, grid_size + spline_order)
        if order <= spline_order:
            coefficients = _derivative_coefficients(spline_order, order, x.dtype, x.device)
            flat = powers[:spline_order + 1 - order].flatten(1).t()
            pieces = (flat @ coefficients).view(*u.shape, spline_order + 1) * weight * scale ** order
            out.scatter_add_(-1, index, pieces)
        dense.append(out)
    return dense


class _BasisJet(torch.autograd.Function):
    """(B, dB/dx, d2B/dx2), each (..., n, G+K), differentiable once in x."""

    @staticmethod
    def forward(ctx, x, knots, grid_size, spline_order):
        ctx.save_for_backward(x, knots)
        ctx.grid = (grid_size, spline_order)
        return tuple(basis_derivatives(x, knots, grid_size, spline_order, (0, 1, 2)))

    @staticmethod
    def backward(ctx, *grads):
        x, knots = ctx.saved_tensors
        wanted = [(order + 1, grad) for order, grad in enumerate(grads) if grad is not None]
        slopes = basis_derivatives(x, knots, *ctx.grid, tuple(order for order, _ in wanted))
        grad_x = sum((grad * slope).sum(-1) for (_, grad), slope in zip(wanted, slopes))
        return grad_x, None, None, None


def basis_jet(x: torch.Tensor, knots: torch.Tensor, grid_size: int,
              spline_order: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The basis of the inputs `x` (..., n) on `knots` with its first and second derivatives
    in x: three tensors (..., n, G+K), differentiable (once) in x."""
    return _BasisJet.apply(x, knots.to(x.dtype), grid_size, spline_order)
