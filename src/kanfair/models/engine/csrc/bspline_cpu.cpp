// CPU kernels of the B-spline engine: the dense basis of a batch in the (B, G+K, n) layout
// (forward), and d loss/dx together with the dense basis (backward), one pass each.
//
// Why a kernel: the basis is a placement of K+1 closed-form pieces per input into G+K slots.
// PyTorch ops (eager, or Inductor's fused loops) write the pieces to memory and read them
// back before placing them; here each batch row works on a chunk of inputs whose pieces
// stay in the L1 cache. The loops run along the inputs, with the order K a template
// argument so that the loops over pieces unroll and the compiler vectorises across inputs
// (native.py asks for 512-bit vectors where the CPU has them). No fast-math: NaN inputs
// give NaN as in the Python engine.
//
// Same convention and arithmetic as bspline.py's compiled path: cell from floor((x - t_0)/h)
// (K >= 1) or from comparisons with the knots (K = 0), local coordinate u measured from the
// cell's own knot, the de Boor triangle without its 1/k factors (divided by K! at the end),
// and slopes as differences of the order K-1 pieces: dN_K/ds = N_{K-1}(s) - N_{K-1}(s - 1).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

constexpr int64_t kChunk = 256;   // inputs per chunk: its pieces fit in the L1 cache
constexpr int64_t kMaxOrder = 7;  // orders compiled here; bspline.py takes larger ones

struct Shape {
  int64_t batch, n, grid_size, order, knot_stride;  // knot_stride 0: one shared grid
  int64_t n_basis() const { return grid_size + order; }
  int64_t n_cells() const { return grid_size + 2 * order; }
};

// One batch row's chunk of inputs: cell, local coordinate, and per piece r = 0..K
// B_{c-K+r}(x) (`value`; K! times that until the triangle is done) and
// (K-1)!·h·dB_{c-K+r}/dx (`slope`, backward only).
template <typename T, int K>
struct Chunk {
  alignas(64) T cell[kChunk];
  alignas(64) T u[kChunk];
  alignas(64) T value[K + 1][kChunk];
  alignas(64) T slope[K + 1][kChunk];
};

// Cell, level 0 of the de Boor triangle (1 inside the grid) and local coordinate u of m
// inputs. `shared`: one knot row for all inputs, read as a gather from one small table;
// compile-time, as are the __restrict pointers, so that the loops vectorise.
template <typename T, int K, bool shared>
void locate_inputs(const T* __restrict x, const T* __restrict knots, const T* __restrict inv_h,
                   int64_t m, int64_t stride, int64_t n_cells, T* __restrict cell,
                   T* __restrict inside, T* __restrict u) {
  const auto row = [stride](int64_t i) { return shared ? int64_t(0) : i * stride; };
  const T cells = T(n_cells);
  if constexpr (K > 0) {
    for (int64_t i = 0; i < m; ++i) {
      const T c = std::floor((x[i] - knots[row(i)]) * inv_h[i]);
      const bool in = (c >= T(0)) & (c < cells);
      cell[i] = in ? c : T(0);
      inside[i] = in ? T(1) : T(0);
    }
  } else {  // the indicator jumps at every knot: the recursion's t_j <= x < t_{j+1}
    for (int64_t i = 0; i < m; ++i) cell[i] = T(-1);
    for (int64_t k = 0; k <= n_cells; ++k)
      for (int64_t i = 0; i < m; ++i) cell[i] += x[i] >= knots[row(i) + k] ? T(1) : T(0);
    for (int64_t i = 0; i < m; ++i) {
      const bool in = (cell[i] >= T(0)) & (cell[i] < cells);
      inside[i] = in ? T(1) : T(0);
      cell[i] = in ? cell[i] : T(0);
    }
  }
  for (int64_t i = 0; i < m; ++i) {  // NaN fails both comparisons and stays NaN
    const T t = (x[i] - knots[row(i) + static_cast<int32_t>(cell[i])]) * inv_h[i];
    const T low = t < T(0) ? T(0) : t;
    u[i] = low > T(1) ? T(1) : low;
  }
}

template <typename T, int K>
void locate(const T* x, const T* knots, const T* inv_h, int64_t m, const Shape& shape,
            Chunk<T, K>& chunk) {
  const auto run = shape.knot_stride == 0 ? locate_inputs<T, K, true> : locate_inputs<T, K, false>;
  run(x, knots, inv_h, m, shape.knot_stride, shape.n_cells(), chunk.cell, chunk.value[0], chunk.u);
}

template <typename T>
T factorial(int k) {
  T out = 1;
  for (int i = 2; i <= k; ++i) out *= T(i);
  return out;
}

// The de Boor triangle up to order K, in place (entry r of order k reads entries r-1 and r
// of order k-1, so entries go from the top down); with `slopes`, first the slopes from
// order K-1.
template <typename T, int K, bool slopes>
void pieces(int64_t m, Chunk<T, K>& chunk) {
  const T* __restrict u = chunk.u;
  for (int k = 1; k <= K; ++k) {
    if (slopes && k == K) {
      for (int r = 0; r <= K; ++r)
        for (int64_t i = 0; i < m; ++i)
          chunk.slope[r][i] = (r >= 1 ? chunk.value[r - 1][i] : T(0)) -
                              (r < K ? chunk.value[r][i] : T(0));
    }
    for (int r = k; r >= 0; --r) {
      T* __restrict level = chunk.value[r];
      const T* __restrict below = chunk.value[r >= 1 ? r - 1 : 0];
      for (int64_t i = 0; i < m; ++i) {
        T term = r >= 1 ? (u[i] + T(k - r)) * below[i] : T(0);
        if (r < k) term += (T(1 + r) - u[i]) * level[i];
        level[i] = term;
      }
    }
  }
  if constexpr (slopes && K == 0) {
    for (int64_t i = 0; i < m; ++i) chunk.slope[0][i] = T(0);
  }
  const T norm = T(1) / factorial<T>(K);
  for (int r = 0; r <= K; ++r)
    for (int64_t i = 0; i < m; ++i) chunk.value[r][i] *= norm;
}

// Piece j - c + K of `rows` for basis function j, where that is a piece (0..K), else 0.
template <typename T, int K>
inline T placed(const T (&rows)[K + 1][kChunk], T cell, int64_t j, int64_t i) {
  const T r = T(j + K) - cell;
  T out = T(0);
#pragma GCC unroll 8
  for (int p = 0; p <= K; ++p) {
    const T piece = rows[p][i];  // read before the select: read inside it, GCC spilled more
    out = r == T(p) ? piece : out;
  }
  return out;
}

template <typename T>
std::vector<T> inverse_steps(const T* knots, const Shape& shape) {
  std::vector<T> inv_h(shape.n);
  for (int64_t i = 0; i < shape.n; ++i) {
    const T* row = knots + i * shape.knot_stride;
    inv_h[i] = T(shape.grid_size) / (row[shape.grid_size + shape.order] - row[shape.order]);
  }
  return inv_h;
}

// Calls body(b, i0, m) for every batch row b and chunk [i0, i0 + m) of inputs, rows spread
// over torch's intra-op threads, with one Chunk per thread.
template <typename T, int K, typename F>
void for_each_chunk(const Shape& shape, F body) {
  at::parallel_for(0, shape.batch, 1, [&](int64_t begin, int64_t end) {
    auto chunk = std::make_unique<Chunk<T, K>>();
    for (int64_t b = begin; b < end; ++b)
      for (int64_t i0 = 0; i0 < shape.n; i0 += kChunk)
        body(b, i0, std::min(kChunk, shape.n - i0), *chunk);
  });
}

template <typename T, int K>
void basis_kernel(const T* x, const T* knots, const Shape& shape, T* out) {
  const std::vector<T> inv_h = inverse_steps(knots, shape);
  const int64_t n = shape.n, n_basis = shape.n_basis();
  for_each_chunk<T, K>(shape, [&](int64_t b, int64_t i0, int64_t m, Chunk<T, K>& chunk) {
    locate(x + b * n + i0, knots + i0 * shape.knot_stride, inv_h.data() + i0, m, shape, chunk);
    pieces<T, K, false>(m, chunk);
    for (int64_t j = 0; j < n_basis; ++j) {
      T* __restrict row = out + (b * n_basis + j) * n + i0;
      for (int64_t i = 0; i < m; ++i) row[i] = placed<T, K>(chunk.value, chunk.cell[i], j, i);
    }
  });
}

// Reads d loss/d basis from `basis` and overwrites it with the basis (the weight gradient
// needs it next; a fresh buffer this size would cost a page fault per 4 KiB).
template <typename T, int K>
void backward_kernel(const T* x, const T* knots, const Shape& shape, T* basis, T* grad_x) {
  const std::vector<T> inv_h = inverse_steps(knots, shape);
  const T slope_norm = K > 0 ? T(1) / factorial<T>(K - 1) : T(0);
  const int64_t n = shape.n, n_basis = shape.n_basis();
  for_each_chunk<T, K>(shape, [&](int64_t b, int64_t i0, int64_t m, Chunk<T, K>& chunk) {
    locate(x + b * n + i0, knots + i0 * shape.knot_stride, inv_h.data() + i0, m, shape, chunk);
    pieces<T, K, true>(m, chunk);
    alignas(64) T acc[kChunk];
    alignas(64) T grad[kChunk];
    for (int64_t i = 0; i < m; ++i) acc[i] = T(0);
    for (int64_t j = 0; j < n_basis; ++j) {
      T* __restrict row = basis + (b * n_basis + j) * n + i0;
      std::copy(row, row + m, grad);
      for (int64_t i = 0; i < m; ++i) {
        acc[i] += grad[i] * placed<T, K>(chunk.slope, chunk.cell[i], j, i);
        row[i] = placed<T, K>(chunk.value, chunk.cell[i], j, i);
      }
    }
    for (int64_t i = 0; i < m; ++i) grad_x[b * n + i0 + i] = acc[i] * slope_norm * inv_h[i0 + i];
  });
}

// f(std::integral_constant<int, K>{}) for the runtime order K.
template <typename F, int... Ks>
void with_order(int64_t order, F&& f, std::integer_sequence<int, Ks...>) {
  ((order == Ks ? (f(std::integral_constant<int, Ks>{}), 0) : 0), ...);
}

template <typename F>
void with_order(int64_t order, F&& f) {
  with_order(order, std::forward<F>(f), std::make_integer_sequence<int, kMaxOrder + 1>{});
}

Shape check(const at::Tensor& x, const at::Tensor& knots, int64_t grid_size, int64_t order) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous (B, n) tensor");
  TORCH_CHECK(x.device().is_cpu() && knots.device().is_cpu(), "CPU tensors only");
  TORCH_CHECK(knots.scalar_type() == x.scalar_type(), "knots must have x's dtype");
  TORCH_CHECK(grid_size >= 1 && order >= 0 && order <= kMaxOrder,
              "grid_size >= 1 and 0 <= spline_order <= ", kMaxOrder);
  const int64_t n = x.size(1), n_knots = grid_size + 2 * order + 1;
  TORCH_CHECK(knots.is_contiguous() && knots.size(-1) == n_knots &&
                  (knots.dim() == 1 || (knots.dim() == 2 && knots.size(0) == n)),
              "knots must be (G+2K+1,) or (n, G+2K+1)");
  return {x.size(0), n, grid_size, order, knots.dim() == 1 ? 0 : n_knots};
}

at::Tensor spline_basis(const at::Tensor& x, const at::Tensor& knots, int64_t grid_size,
                        int64_t spline_order) {
  const Shape shape = check(x, knots, grid_size, spline_order);
  at::Tensor basis = at::empty({shape.batch, shape.n_basis(), shape.n}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spline_basis", [&] {
    with_order(spline_order, [&](auto order) {
      basis_kernel<scalar_t, decltype(order)::value>(
          x.data_ptr<scalar_t>(), knots.data_ptr<scalar_t>(), shape, basis.data_ptr<scalar_t>());
    });
  });
  return basis;
}

// d loss/dx from d loss/d basis (B, G+K, n), which it overwrites with the basis.
at::Tensor spline_basis_backward_(at::Tensor& grad_basis, const at::Tensor& x,
                                  const at::Tensor& knots, int64_t grid_size,
                                  int64_t spline_order) {
  const Shape shape = check(x, knots, grid_size, spline_order);
  TORCH_CHECK(grad_basis.is_contiguous() && grad_basis.scalar_type() == x.scalar_type() &&
                  grad_basis.sizes() == at::IntArrayRef({shape.batch, shape.n_basis(), shape.n}),
              "grad_basis must be a contiguous (B, G+K, n) tensor of x's dtype");
  at::Tensor grad_x = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spline_basis_backward_", [&] {
    with_order(spline_order, [&](auto order) {
      backward_kernel<scalar_t, decltype(order)::value>(
          x.data_ptr<scalar_t>(), knots.data_ptr<scalar_t>(), shape,
          grad_basis.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>());
    });
  });
  return grad_x;
}

}  // namespace

TORCH_LIBRARY(kanfair, m) {
  m.def("spline_basis(Tensor x, Tensor knots, int grid_size, int spline_order) -> Tensor");
  m.def("spline_basis_backward_(Tensor(a!) grad_basis, Tensor x, Tensor knots, int grid_size, "
        "int spline_order) -> Tensor");
}

TORCH_LIBRARY_IMPL(kanfair, CPU, m) {
  m.impl("spline_basis", &spline_basis);
  m.impl("spline_basis_backward_", &spline_basis_backward_);
}
