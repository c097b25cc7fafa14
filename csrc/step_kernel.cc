// dojax's native step kernel: the interior-point solve of one step on the CPU, called through
// XLA's FFI (jax.ffi).
//
// It runs the same algorithm as dojax.solver.solve, on the same residual: the per-element
// equations and their Jacobians come from elements.inc, which dojax.native.generate writes from
// the JAX residual, and terms of one type are evaluated four at a time, one per lane of a vector
// (the generated *_lin4 functions). The Newton matrix is factorised as in dojax.residual.linearize and
// dojax.linalg: each contact and joint limit is eliminated into its bodies' blocks, the kinematic
// tree is eliminated leaves first, and loop joints and body-body contacts form a border solved by
// a Schur complement. One call solves a batch of independent problems (the leading dimensions of
// the buffers), each laid out as dojax.native.kernel packs it, in parallel over the CPU's cores.
// A second entry point solves the Newton system at a given point, or its transpose, for many
// right-hand sides (the linear solve of a step's derivative by the implicit function theorem, in
// forward and in reverse mode), and a third the derivative's other factor: each term's Jacobian
// with respect to the state and action it reads.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kMaxElement = 12;  // unknowns of the largest element type

// The generated *_lin functions store only the outputs that vary; the kernel writes each one's
// constant outputs once, from its table of the nonzero ones (ended by index -1).
struct OutputConstant {
  int index;
  double value;
};

// The generated *_lin4 functions (and joint_local4) evaluate four terms of one type side by side,
// one per lane of these vector types (GCC's vector extensions: AVX where the CPU has it): the same
// operations in the same order as *_lin, each term's parameters, inputs and outputs in its own
// arrays.
typedef double V4 __attribute__((vector_size(32)));
typedef long L4 __attribute__((vector_size(32)));  // integers, and comparisons' lane masks (-1: true)
inline V4 v4_d(double x) { return V4{x, x, x, x}; }
inline L4 v4_l(long x) { return L4{x, x, x, x}; }
inline V4 v4_load(const double* const* a, int k) { return V4{a[0][k], a[1][k], a[2][k], a[3][k]}; }
inline L4 v4_load_long(const double* const* a, int k) {
  return L4{(long)a[0][k], (long)a[1][k], (long)a[2][k], (long)a[3][k]};
}
inline L4 v4_load_bool(const double* const* a, int k) {
  return L4{-(long)(a[0][k] != 0), -(long)(a[1][k] != 0), -(long)(a[2][k] != 0), -(long)(a[3][k] != 0)};
}
inline void v4_store(double* const* out, int k, V4 v) {
  out[0][k] = v[0];
  out[1][k] = v[1];
  out[2][k] = v[2];
  out[3][k] = v[3];
}
inline V4 v4_sel(L4 m, V4 a, V4 b) { return m ? a : b; }
inline L4 v4_sel(L4 m, L4 a, L4 b) { return m ? a : b; }
#define V4_LANEWISE(name, f)                                      \
  inline V4 v4_##name(V4 a) {                                     \
    V4 r;                                                         \
    for (int i = 0; i < 4; ++i) r[i] = f(a[i]);                   \
    return r;                                                     \
  }
#define V4_LANEWISE2(name, f)                                     \
  inline V4 v4_##name(V4 a, V4 b) {                               \
    V4 r;                                                         \
    for (int i = 0; i < 4; ++i) r[i] = f(a[i], b[i]);             \
    return r;                                                     \
  }
V4_LANEWISE(sqrt, std::sqrt)
V4_LANEWISE(fabs, std::fabs)
V4_LANEWISE(sin, std::sin)
V4_LANEWISE(cos, std::cos)
V4_LANEWISE(exp, std::exp)
V4_LANEWISE(log, std::log)
V4_LANEWISE(tanh, std::tanh)
V4_LANEWISE(floor, std::floor)
V4_LANEWISE2(atan2, std::atan2)
V4_LANEWISE2(fmod, std::fmod)
V4_LANEWISE2(pow, std::pow)
#undef V4_LANEWISE
#undef V4_LANEWISE2

typedef void (*LinFunction)(const double*, const double*, double*);
typedef void (*Lin4Function)(const double* const*, const double* const*, double* const*);

// f or f4 on count (1 to 4) terms, whose parameters, inputs and outputs are p, u and out[0..count):
// one term by the scalar f, more by f4, its idle lanes repeating the last term.
inline void evaluate_terms(int count, LinFunction f, Lin4Function f4, const double* p[4], const double* u[4],
                           double* out[4]) {
  if (count == 1) return f(p[0], u[0], out[0]);
  for (int k = count; k < 4; ++k) {
    p[k] = p[k - 1];
    u[k] = u[k - 1];
    out[k] = out[k - 1];
  }
  f4(p, u, out);
}

struct ElementType {
  int size, num_equalities;
  int num_orthant;
  int orthant[6][2];
  int num_soc;
  int soc[1][2][3];
  int num_params;
  LinFunction lin;  // rows, then their Jacobian
  Lin4Function lin4;
  const OutputConstant* lin_constants;
  int num_local_params;
  void (*local)(const double*, const double*, double*);  // Jacobian with respect to the local inputs
  void (*prepare)(const double*, const double*, double*);  // parameters, then starting unknowns, from the local inputs
  // the element rows that depend on its bodies' velocities, and the unknowns that its bodies' rows
  // depend on (every other entry of those blocks of its Jacobian is zero)
  int num_velocity_rows;
  int velocity_rows[kMaxElement];
  int num_impulses;
  int impulses[kMaxElement];
  // lin of two elements of this type at once (a joint row's lower and upper limit, which share
  // everything but LIMIT_OWN_PARAMS): both parameter blocks in turn, the bodies' velocities then
  // both elements' unknowns, both lin outputs in turn; null for types evaluated one at a time
  LinFunction pair_lin;
  Lin4Function pair_lin4;
  const OutputConstant* pair_constants;
};

struct JointType {  // a joint's rows and their Jacobian, generated for one choice of free rows
  LinFunction lin;
  Lin4Function lin4;
  const OutputConstant* constants;
};

#include "elements.inc"

// ---- small dense linear algebra (row-major) ---------------------------------------------------

// C (m x n) = A (m x k) B (k x n), with leading dimensions lda, ldb, ldc; C += when accumulate.
// (For the border's sizes, known only at run time; zero entries of A are skipped.)
void matmul(const double* A, int lda, const double* B, int ldb, double* C, int ldc, int m, int k, int n,
            double scale = 1.0, bool accumulate = false) {
  std::vector<double> out(n);
  for (int i = 0; i < m; ++i) {
    std::fill(out.begin(), out.end(), 0.0);
    for (int l = 0; l < k; ++l) {
      const double a = A[i * lda + l];
      if (a == 0.0) continue;
      const double* b = B + l * ldb;
      for (int j = 0; j < n; ++j) out[j] += a * b[j];
    }
    for (int j = 0; j < n; ++j) C[i * ldc + j] = (accumulate ? C[i * ldc + j] : 0.0) + scale * out[j];
  }
}

// inv[m] = A[m]^-1 (N x N) for K independent matrices by Gauss-Jordan elimination in place with
// partial pivoting: each step's pivot column is overwritten by the inverse's column, so a step
// updates N columns instead of the 2 N of an augmented [A | I], and the row interchanges are undone
// at the end as column interchanges of the inverse, last first. One elimination step of every
// matrix runs after another: one inversion is a chain of dependent steps (pivot search, division,
// row updates) that leaves the CPU's units mostly idle, and interleaving K chains fills them.
// With invT, the inverses are also written transposed there (for matrix-vector products, mv).
template <int N, int K>
void invert_fixed(const double* const* A, double* const* inv, double* const* invT = nullptr) {
  double M[K][N][N];
  int perm[K][N];
  for (int m = 0; m < K; ++m)
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) M[m][i][j] = A[m][i * N + j];
  for (int c = 0; c < N; ++c) {
    for (int m = 0; m < K; ++m) {
      int piv = c;
      for (int r = c + 1; r < N; ++r)
        if (std::fabs(M[m][r][c]) > std::fabs(M[m][piv][c])) piv = r;
      perm[m][c] = piv;
      if (piv != c)
        for (int j = 0; j < N; ++j) std::swap(M[m][c][j], M[m][piv][j]);
      const double d = 1.0 / M[m][c][c];
      for (int j = 0; j < N; ++j) M[m][c][j] *= d;
      M[m][c][c] = d;
    }
    for (int m = 0; m < K; ++m)
      for (int r = 0; r < N; ++r) {
        if (r == c) continue;
        const double f = M[m][r][c];
        for (int j = 0; j < N; ++j) M[m][r][j] -= f * M[m][c][j];
        M[m][r][c] = -f * M[m][c][c];
      }
  }
  for (int m = 0; m < K; ++m) {  // the column interchanges, composed into one gather
    int col[N];
    for (int j = 0; j < N; ++j) col[j] = j;
    for (int c = N - 1; c >= 0; --c) std::swap(col[c], col[perm[m][c]]);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) inv[m][i * N + j] = M[m][i][col[j]];
    if (invT)
      for (int j = 0; j < N; ++j)
        for (int i = 0; i < N; ++i) invT[m][j * N + i] = M[m][i][col[j]];
  }
}

// invert_fixed for count (1 to 4) matrices.
template <int N>
void invert_up_to_four(int count, const double* const* A, double* const* inv, double* const* invT = nullptr) {
  switch (count) {
    case 1: invert_fixed<N, 1>(A, inv, invT); break;
    case 2: invert_fixed<N, 2>(A, inv, invT); break;
    case 3: invert_fixed<N, 3>(A, inv, invT); break;
    case 4: invert_fixed<N, 4>(A, inv, invT); break;
    default: break;
  }
}

// C (M x N) (+)= scale A (M x K) B (K x N), fixed sizes for the hot loops.
template <int M, int K, int N>
inline void mm(const double* A, int lda, const double* B, int ldb, double* C, int ldc, double scale = 1.0,
               bool accumulate = false) {
  for (int i = 0; i < M; ++i) {
    double out[N] = {};
    for (int l = 0; l < K; ++l) {
      const double a = A[i * lda + l];
      for (int j = 0; j < N; ++j) out[j] += a * B[l * ldb + j];
    }
    for (int j = 0; j < N; ++j) C[i * ldc + j] = (accumulate ? C[i * ldc + j] : 0.0) + scale * out[j];
  }
}

// y (M) (+)= scale A x for A (M x K) given as its transpose At (K x M, row-major): a sum of A's
// columns, vectorised along them (a row-major A would need a horizontal sum per row).
template <int M, int K>
inline void mv(const double* At, const double* x, double* y, double scale = 1.0, bool accumulate = false) {
  double out[M] = {};
  for (int l = 0; l < K; ++l) {
    const double a = x[l];
    for (int i = 0; i < M; ++i) out[i] += At[l * M + i] * a;
  }
  for (int i = 0; i < M; ++i) y[i] = (accumulate ? y[i] : 0.0) + scale * out[i];
}

// C (M x N) (+)= scale A[:, cols] B with B (Count x N): A's columns ``cols`` only.
template <int M, int N, int Count>
inline void mm_cols(const double* A, int lda, const int* cols, const double* B, double* C, int ldc,
                    double scale = 1.0, bool accumulate = false) {
  for (int i = 0; i < M; ++i) {
    double out[N] = {};
    for (int l = 0; l < Count; ++l) {
      const double a = A[i * lda + cols[l]];
      for (int j = 0; j < N; ++j) out[j] += a * B[l * N + j];
    }
    for (int j = 0; j < N; ++j) C[i * ldc + j] = (accumulate ? C[i * ldc + j] : 0.0) + scale * out[j];
  }
}

// C (M x N) (+)= scale A B[rows, :] with A (M x Count): B's rows ``rows`` only.
template <int M, int N, int Count>
inline void mm_rows(const double* A, const int* rows, const double* B, int ldb, double* C, int ldc,
                    double scale = 1.0, bool accumulate = false) {
  for (int i = 0; i < M; ++i) {
    double out[N] = {};
    for (int l = 0; l < Count; ++l) {
      const double a = A[i * Count + l];
      for (int j = 0; j < N; ++j) out[j] += a * B[rows[l] * ldb + j];
    }
    for (int j = 0; j < N; ++j) C[i * ldc + j] = (accumulate ? C[i * ldc + j] : 0.0) + scale * out[j];
  }
}

// Right-hand sides solved together: a multiple of 12, so that a block holds whole bodies' columns of
// a step's Jacobian (Solver::jacobian_columns).
constexpr int kBlock = 24;
static_assert(kBlock % 12 == 0, "a block of a step Jacobian's columns holds whole bodies");

// C (M x k) (+)= scale A (M x K) B (K x k): B and C hold k right-hand sides side by side (row-major,
// leading dimension k), so the innermost loop runs over them (at compile-time width for a block).
template <int M, int K>
inline void mm_block(const double* A, int lda, const double* B, double* C, int k, double scale = 1.0,
                     bool accumulate = false) {
  if (k == kBlock) return mm<M, K, kBlock>(A, lda, B, k, C, k, scale, accumulate);
  for (int j0 = 0; j0 < k; j0 += kBlock) {
    const int w = std::min(kBlock, k - j0);
    for (int i = 0; i < M; ++i) {
      double out[kBlock] = {};
      for (int l = 0; l < K; ++l) {
        const double a = A[i * lda + l];
        const double* b = B + l * k + j0;
        for (int j = 0; j < w; ++j) out[j] += a * b[j];
      }
      double* c = C + i * k + j0;
      for (int j = 0; j < w; ++j) c[j] = (accumulate ? c[j] : 0.0) + scale * out[j];
    }
  }
}

// LU factorisation with partial pivoting of the n x n A in place (the row swapped into row c is
// piv[c]), and the solve of A x = b in place with those factors.
void dense_factor(double* A, int* piv, int n) {
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(A[r * n + c]) > std::fabs(A[p * n + c])) p = r;
    piv[c] = p;
    if (p != c)
      for (int j = 0; j < n; ++j) std::swap(A[c * n + j], A[p * n + j]);
    const double d = A[c * n + c];
    for (int r = c + 1; r < n; ++r) {
      const double f = A[r * n + c] / d;
      A[r * n + c] = f;
      if (f == 0.0) continue;
      for (int j = c + 1; j < n; ++j) A[r * n + j] -= f * A[c * n + j];
    }
  }
}

void dense_solve(const double* LU, const int* piv, double* b, int n) {
  for (int c = 0; c < n; ++c)
    if (piv[c] != c) std::swap(b[c], b[piv[c]]);
  for (int c = 0; c < n; ++c)
    for (int r = c + 1; r < n; ++r) b[r] -= LU[r * n + c] * b[c];
  for (int r = n - 1; r >= 0; --r) {
    double s = b[r];
    for (int j = r + 1; j < n; ++j) s -= LU[r * n + j] * b[j];
    b[r] = s / LU[r * n + r];
  }
}

// The solve of A^T x = b in place with dense_factor's factors of A (P A = L U, so
// A^-T = P^T L^-T U^-T).
void dense_solve_transposed(const double* LU, const int* piv, double* b, int n) {
  for (int r = 0; r < n; ++r) {
    double s = b[r];
    for (int j = 0; j < r; ++j) s -= LU[j * n + r] * b[j];
    b[r] = s / LU[r * n + r];
  }
  for (int r = n - 1; r >= 0; --r) {
    double s = b[r];
    for (int j = r + 1; j < n; ++j) s -= LU[j * n + r] * b[j];
    b[r] = s;
  }
  for (int c = n - 1; c >= 0; --c)
    if (piv[c] != c) std::swap(b[c], b[piv[c]]);
}

// A term's velocity unknowns u (12): bodies a's and b's rows of W, zero for the world (nb).
inline void term_velocities(const double* W, int nb, int a, int b, double* u) {
  for (int k = 0; k < 6; ++k) {
    u[k] = a == nb ? 0.0 : W[6 * a + k];
    u[6 + k] = b == nb ? 0.0 : W[6 * b + k];
  }
}

// NaN-propagating maximum (as jnp.max).
inline double nanmax(double a, double b) { return (std::isnan(a) || a > b) ? a : b; }
inline double nanmin(double a, double b) { return (std::isnan(a) || a < b) ? a : b; }

// A derivative solve's n outputs with the non-finite entries that a non-finite factorisation leaves
// set to zero (the derivatives of a failed step are masked, never NaN).
inline void zero_non_finite(double* x, int64_t n) {
  for (int64_t k = 0; k < n; ++k)
    if (!std::isfinite(x[k])) x[k] = 0.0;
}

// How many of a local element's rows read its bodies' velocities, and of its unknowns its bodies'
// rows read, by its size, as every layout of dojax.elements has them (a limit's or a frictionless
// contact's one row and impulse; a cone contact's gap and two tangential rows, and its normal and
// two friction impulses; a pyramid contact's gap and four side rows, and its normal and four side
// impulses), fixed at compile time for the elimination's products; parse_structure checks each
// element type against them.
constexpr int coupled(int size) { return size == 2 ? 1 : size == 8 ? 3 : 5; }

// ---- the problem's static structure -------------------------------------------------------------

struct Group {
  const ElementType* type;  // the layout shared by the group's elements
  std::vector<const ElementType*> types;  // each element's (a limit's generated code is its joint row's)
  int ne;
  bool border;
  std::vector<int> a, b;
  int param_offset;    // into the parameter vector
  int unknown_offset;  // into the unknown vector
  int border_offset;   // into the border unknowns (border groups)
};

struct Structure {
  int nb, nj, n_levels, width;
  std::vector<int> levels, parent, child;
  std::vector<const JointType*> joint_type;
  std::vector<Group> groups;
  int num_params, num_unknowns, border_size;
  int lam_offset() const { return 6 * nb; }
  bool has_cones() const { return !groups.empty(); }
};

bool parse_structure(ffi::Span<const int64_t> s, Structure& st) {
  size_t k = 0;
  auto next = [&]() { return static_cast<int>(s[k++]); };
  if (s.size() < 4) return false;
  st.nb = next();
  st.nj = next();
  st.n_levels = next();
  st.width = next();
  st.levels.resize(st.n_levels * st.width);
  for (auto& v : st.levels) v = next();
  st.parent.resize(st.nj);
  st.child.resize(st.nj);
  for (auto& v : st.parent) v = next();
  for (auto& v : st.child) v = next();
  st.joint_type.resize(st.nj);
  for (auto& t : st.joint_type) {
    const int type = next();
    if (type < 0 || type >= NUM_JOINT_TYPES) return false;
    t = &JOINT_TYPES[type];
  }
  const int n_groups = next();
  int params = st.nb * BODY_PARAMS + st.nj * JOINT_PARAMS;
  int unknowns = 6 * st.nb + 6 * st.nj;
  int border = 6 * (st.nj - st.nb);
  for (int g = 0; g < n_groups; ++g) {
    Group grp;
    grp.ne = next();
    grp.border = next() != 0;
    // one element type per element (joint limits differ by the joint row they bound); the types
    // of one group share their layout, parameter count and couplings to their bodies
    for (int e = 0; e < grp.ne; ++e) {
      const int type = next();
      if (type < 0 || type >= NUM_ELEMENT_TYPES) return false;
      const ElementType* t = &ELEMENT_TYPES[type];
      if (e > 0 && (t->size != grp.type->size || t->num_params != grp.type->num_params ||
                    t->num_local_params != grp.type->num_local_params ||
                    !std::equal(t->velocity_rows, t->velocity_rows + kMaxElement, grp.type->velocity_rows) ||
                    !std::equal(t->impulses, t->impulses + kMaxElement, grp.type->impulses)))
        return false;
      if (t->num_velocity_rows != coupled(t->size) || t->num_impulses != coupled(t->size)) return false;
      grp.type = t;
      grp.types.push_back(t);
    }
    if (grp.ne < 1 || (grp.type->size != 2 && grp.type->size != 8 && grp.type->size != 12)) return false;
    grp.a.resize(grp.ne);
    grp.b.resize(grp.ne);
    for (auto& v : grp.a) v = next();
    for (auto& v : grp.b) v = next();
    grp.param_offset = params;
    grp.unknown_offset = unknowns;
    grp.border_offset = grp.border ? border : -1;
    params += grp.ne * grp.type->num_params;
    unknowns += grp.ne * grp.type->size;
    if (grp.border) border += grp.ne * grp.type->size;
    st.groups.push_back(std::move(grp));
  }
  st.num_params = params;
  st.num_unknowns = unknowns;
  st.border_size = border;
  return k == s.size();
}

// ---- one step's solve ------------------------------------------------------------------------------

struct Options {
  double rtol, btol, undercut, no_progress_max, no_progress_undercut;
  int max_iter, max_ls;
  bool verbose;
};

struct LocalElimination {  // per element: dy = -K r - Sa dVa - Sb dVb
  std::vector<double> K, Sa, Sb, BKa, BKb;
};

class Solver {
 public:
  Solver(const Structure& st, const double* params) : st_(st), p_(params) {
    const int nb = st.nb, m = st.border_size;
    D_.resize((nb + 1) * 144);
    L_.resize(nb * 144);
    U_.resize(nb * 144);
    inv_.resize(nb * 144);
    invT_.resize(nb * 144);
    UT_.resize(nb * 72);
    LT_.resize(nb * 72);
    B_.resize(nb * 12 * m);
    C_.resize(m * nb * 12);
    E_.resize(m * m);
    local_.resize(st.groups.size());
    body_out_.resize(nb * kBodyOut);
    joint_out_.resize(st.nj * kJointOut);
    size_t elements = 0;
    for (const Group& grp : st.groups) {
      element_out_offset_.push_back(elements);
      elements += grp.ne * element_out_size(grp.type->size);
    }
    element_out_.resize(elements);
    paired_.resize(st.groups.size());
    for (size_t g = 0; g < st.groups.size(); ++g) {
      const Group& grp = st.groups[g];
      paired_[g] = pairs(grp, params + grp.param_offset);
      if (grp.border) continue;
      const int n = grp.type->size;
      local_[g].K.resize(grp.ne * n * n);
      local_[g].Sa.resize(grp.ne * n * 6);
      local_[g].Sb.resize(grp.ne * n * 6);
      local_[g].BKa.resize(grp.ne * 6 * n);
      local_[g].BKb.resize(grp.ne * 6 * n);
    }
    plan_evaluations();
  }

  // Evaluates every term's rows and their Jacobian at W (the generated *_lin functions), kept for
  // factorise, and with R (or null) the residual at W with mu = 0 (complementarity rows y o z).
  void evaluate(const double* W, double* R) {
    const int nb = st_.nb, nj = st_.nj;
    for (const Evaluation& ev : evaluations_) {
      double in[4][12 + 2 * kMaxElement];  // a joint's or element's bodies' velocities, then its unknowns
      const double* p[4] = {};
      const double* u[4] = {};
      double* out[4] = {};
      for (int k = 0; k < ev.count; ++k) {
        const int t = ev.term[k];
        u[k] = in[k];
        if (ev.group == kBodies) {
          p[k] = p_ + t * BODY_PARAMS;
          u[k] = W + 6 * t;
          out[k] = &body_out_[t * kBodyOut];
        } else if (ev.group == kJoints) {
          p[k] = p_ + nb * BODY_PARAMS + t * JOINT_PARAMS;
          velocities(W, st_.parent[t], st_.child[t], in[k]);
          std::memcpy(in[k] + 12, W + st_.lam_offset() + 6 * t, 6 * sizeof(double));
          out[k] = &joint_out_[t * kJointOut];
        } else {
          const Group& g = st_.groups[ev.group];
          const int n = g.type->size;
          p[k] = p_ + g.param_offset + t * g.type->num_params;
          velocities(W, g.a[t], g.b[t], in[k]);
          std::memcpy(in[k] + 12, W + g.unknown_offset + t * n, (paired_[ev.group][t] ? 2 : 1) * n * sizeof(double));
          out[k] = element_out(ev.group, t);
        }
      }
      evaluate_terms(ev.count, ev.lin, ev.lin4, p, u, out);
    }
    if (!R) return;
    std::fill(R, R + st_.num_unknowns, 0.0);
    for (int i = 0; i < nb; ++i)
      for (int r = 0; r < 6; ++r) R[6 * i + r] += body_out_[i * kBodyOut + r];
    for (int j = 0; j < nj; ++j) {
      const double* out = &joint_out_[j * kJointOut];
      add_body_rows(R, st_.parent[j], out);
      add_body_rows(R, st_.child[j], out + 6);
      std::memcpy(R + st_.lam_offset() + 6 * j, out + 12, 6 * sizeof(double));
    }
    for (size_t gi = 0; gi < st_.groups.size(); ++gi) {
      const Group& g = st_.groups[gi];
      const int n = g.type->size;
      for (int e = 0; e < g.ne; ++e) {
        const double* out = element_out(gi, e);
        std::memcpy(R + g.unknown_offset + e * n, out, n * sizeof(double));
        add_body_rows(R, g.a[e], out + n);
        add_body_rows(R, g.b[e], out + n + 6);
      }
    }
  }

  // Factorises d residual / d W at W (dojax.residual.linearize).
  void linearize(const double* W) {
    evaluate(W, nullptr);
    factorise();
  }

  // Factorises d residual / d W at the point of the last evaluate.
  void factorise() {
    const int nb = st_.nb, nj = st_.nj, m = st_.border_size;
    P_.clear();
    // the blocks that the terms add into: a body's own block and its coupling to its parent's
    // velocities (L) and body rows (U). Every other entry that the factorisation reads is set below
    // (every body's tree joint writes its other blocks; L's last 6 columns and U's last 6 rows are
    // never read and stay zero).
    for (int i = 0; i < nb; ++i)
      for (int r = 0; r < 6; ++r) {
        std::fill_n(&D(i, r, 0), 6, 0.0);
        std::fill_n(&Lm(i, r, 0), 6, 0.0);
        std::fill_n(&Um(i, r, 0), 6, 0.0);
      }
    std::fill(B_.begin(), B_.end(), 0.0);
    std::fill(C_.begin(), C_.end(), 0.0);
    std::fill(E_.begin(), E_.end(), 0.0);
    for (int i = 0; i < nb; ++i) {
      const double* out = &body_out_[i * kBodyOut];
      for (int r = 0; r < 6; ++r)
        for (int c = 0; c < 6; ++c) D(i, r, c) += out[6 + 6 * r + c];
    }
    for (int j = 0; j < nj; ++j) {
      const int pa = st_.parent[j], c = st_.child[j];
      const double* J = &joint_out_[j * kJointOut] + 18;  // rows [parent, child, joint] x columns [Vp, Vc, lam]
      auto blk = [&](int r, int k, int a, int b) { return J[(6 * r + a) * 18 + 6 * k + b]; };
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
          if (pa != nb) D(pa, a, b) += blk(0, 0, a, b);
          D(c, a, b) += blk(1, 1, a, b);
        }
      if (j < nb) {  // tree joint j places body j
        const bool root = pa == nb;
        for (int a = 0; a < 6; ++a)
          for (int b = 0; b < 6; ++b) {
            D(j, a, 6 + b) = blk(1, 2, a, b);
            D(j, 6 + a, b) = blk(2, 1, a, b);
            D(j, 6 + a, 6 + b) = blk(2, 2, a, b);
            if (!root) {
              Lm(j, a, b) += blk(1, 0, a, b);
              Lm(j, 6 + a, b) = blk(2, 0, a, b);
              Um(j, a, b) += blk(0, 1, a, b);
              Um(j, a, 6 + b) = blk(0, 2, a, b);
            }
          }
      } else {  // loop joint: a 6-column border
        const int col = 6 * (j - nb);
        for (int a = 0; a < 6; ++a)
          for (int b = 0; b < 6; ++b) {
            if (pa != nb) Bm(pa, a, col + b) += blk(0, 2, a, b);
            Bm(c, a, col + b) += blk(1, 2, a, b);
            if (pa != nb) Cm(col + a, pa, b) += blk(2, 0, a, b);
            Cm(col + a, c, b) += blk(2, 1, a, b);
            E_[(col + a) * m + col + b] = blk(2, 2, a, b);
          }
      }
    }
    // a group's local elements are eliminated four at a time (their inversions interleaved)
    for (size_t gi = 0; gi < st_.groups.size(); ++gi) {
      const Group& g = st_.groups[gi];
      const int n = g.type->size, w = 12 + n;
      for (int e0 = 0; e0 < g.ne; e0 += 4) {
        const int count = std::min(4, g.ne - e0);
        const double* jac[4];  // rows [element rows; body a; body b] x [Va, Vb, y]
        for (int k = 0; k < count; ++k) jac[k] = element_out(gi, e0 + k) + w;
        if (!g.border) {
          switch (n) {
            case 2: eliminate<2>(gi, e0, count, jac); break;
            case 8: eliminate<8>(gi, e0, count, jac); break;
            case 12: eliminate<12>(gi, e0, count, jac); break;
            default: break;  // parse_structure admits no other size
          }
          continue;
        }
        for (int k = 0; k < count; ++k) {
          const int e = e0 + k, a = g.a[e], b = g.b[e], row0 = g.border_offset + e * n;
          for (int r = 0; r < n; ++r) {
            for (int c = 0; c < 6; ++c) {
              if (a != nb) Bm(a, c, row0 + r) += jac[k][(n + c) * w + 12 + r];
              if (b != nb) Bm(b, c, row0 + r) += jac[k][(n + 6 + c) * w + 12 + r];
              if (a != nb) Cm(row0 + r, a, c) += jac[k][r * w + c];
              if (b != nb) Cm(row0 + r, b, c) += jac[k][r * w + 6 + c];
            }
            for (int c = 0; c < n; ++c) E_[(row0 + r) * m + row0 + c] += jac[k][r * w + 12 + c];
          }
        }
      }
    }
    // tree elimination, deepest level first; a level's nodes are independent, so their blocks are
    // inverted four at a time
    for (int lv = 0; lv < st_.n_levels; ++lv) {
      const int* level = &st_.levels[lv * st_.width];
      int nodes[4], count = 0;
      auto invert = [&]() {
        const double* A[4];
        double *inv[4], *invT[4];
        for (int k = 0; k < count; ++k) {
          A[k] = &D(nodes[k], 0, 0);
          inv[k] = &inv_[nodes[k] * 144];
          invT[k] = &invT_[nodes[k] * 144];
        }
        invert_up_to_four<12>(count, A, inv, invT);
        count = 0;
      };
      for (int k = 0; k < st_.width; ++k) {
        if (level[k] == nb) continue;
        nodes[count++] = level[k];
        if (count == 4) invert();
      }
      invert();
      for (int k = 0; k < st_.width; ++k) {
        const int i = level[k];
        if (i == nb) continue;
        const int pa = st_.parent[i];
        if (pa == nb) continue;
        // L[i] couples to the parent's velocities only (its first 6 columns) and U[i] to the
        // parent's body rows only (its first 6 rows): the fill-in is the parent's body block
        double tmp[72];
        mm<12, 12, 6>(&inv_[i * 144], 12, &Lm(i, 0, 0), 12, tmp, 6);
        mm<6, 12, 6>(&Um(i, 0, 0), 12, tmp, 6, &D(pa, 0, 0), 12, -1.0, true);
        // U's 6 rows and L's 6 columns transposed, for tree_solve's matrix-vector products
        for (int r = 0; r < 6; ++r)
          for (int c = 0; c < 12; ++c) {
            UT_[i * 72 + c * 6 + r] = Um(i, r, c);
            LT_[i * 72 + r * 12 + c] = Lm(i, c, r);
          }
      }
    }
    if (m > 0) {  // Schur complement of the border: S = E - C A^-1 B
      AinvB_.assign(nb * 12 * m, 0.0);
      tree_solve(B_.data(), AinvB_.data(), m);
      S_.assign(E_.begin(), E_.end());
      matmul(C_.data(), nb * 12, AinvB_.data(), m, S_.data(), m, m, nb * 12, m, -1.0, true);
      S_pivots_.resize(m);
      dense_factor(S_.data(), S_pivots_.data(), m);
    }
  }

  // dW = solution of (d residual / d W) dW = -R (dojax.residual.newton_step).
  void newton_step(const double* R, double* dW) {
    const int nb = st_.nb, m = st_.border_size;
    load_rows(R, -1.0, [&](int gi, int e, int n, const double* r) {
      switch (n) {
        case 2: eliminated_rhs<2>(gi, e, r); break;
        case 8: eliminated_rhs<8>(gi, e, r); break;
        case 12: eliminated_rhs<12>(gi, e, r); break;
        default: break;
      }
    });
    x_.assign(nb * 12, 0.0);
    tree_solve(rhs_.data(), x_.data(), 1);
    if (m > 0) {
      // y = S^-1 (c - C A^-1 b), x = A^-1 b - A^-1 B y
      std::vector<double> y(border_rhs_);
      matmul(C_.data(), nb * 12, x_.data(), 1, y.data(), 1, m, nb * 12, 1, -1.0, true);
      dense_solve(S_.data(), S_pivots_.data(), y.data(), m);
      matmul(AinvB_.data(), m, y.data(), 1, x_.data(), 1, nb * 12, m, 1, -1.0, true);
      border_ = y;
    }
    store_rows(R, 1.0, dW, [&](int gi, int e, int n, const double* r, double* dy) {
      switch (n) {
        case 2: eliminated_step<2>(gi, e, r, dy); break;
        case 8: eliminated_step<8>(gi, e, r, dy); break;
        case 12: eliminated_step<12>(gi, e, r, dy); break;
        default: break;
      }
    });
  }

  // newton_step for C right-hand sides, kBlock at a time: load(j0, k) adds columns j0 .. j0 + k - 1
  // into block_r_ (N x kBlock, their rows side by side, zero before the call) and marks in
  // block_rows_ the rows it wrote, so that every product runs over all of them and the rows it
  // left zero are skipped unread; dW (rows x C, row-major) receives the solutions' first ``rows``
  // rows (rows < N: the velocities' alone, the other rows are not computed). With a border (loop
  // joints, body-body contacts) one column at a time.
  template <class Load>
  void solve_blocks(int C, int rows, Load load, double* dW) {
    const int N = st_.num_unknowns, K = kBlock;
    block_r_.assign(N * K, 0.0);
    block_rows_.assign(N, 0);
    std::vector<double> r, d;
    for (int j0 = 0; j0 < C; j0 += K) {
      const int k = std::min(K, C - j0);
      load(j0, k);
      if (st_.border_size > 0) {
        r.resize(N);
        d.resize(N);
        for (int j = 0; j < k; ++j) {
          for (int c = 0; c < N; ++c) r[c] = block_r_[c * K + j];
          newton_step(r.data(), d.data());
          for (int c = 0; c < rows; ++c) dW[c * C + j0 + j] = d[c];
        }
      } else if (rows < N) {  // the velocities' rows, straight from the tree's solution
        newton_step_block(true);
        for (int i = 0; i < st_.nb; ++i)
          for (int c = 0; c < 6; ++c)
            std::copy(&block_x_[(12 * i + c) * K], &block_x_[(12 * i + c) * K + k], dW + (6 * i + c) * C + j0);
      } else {
        newton_step_block(false);
        for (int c = 0; c < rows; ++c) std::copy(&block_dw_[c * K], &block_dw_[c * K + k], dW + c * C + j0);
      }
      for (int c = 0; c < N; ++c)  // zero again what this block wrote
        if (block_rows_[c]) {
          std::fill(&block_r_[c * K], &block_r_[(c + 1) * K], 0.0);
          block_rows_[c] = 0;
        }
    }
  }

  // newton_step for the C right-hand sides held as the columns of R (N x C, row-major), into the
  // columns of dW (N x C).
  void newton_step_columns(const double* R, double* dW, int C) {
    const int N = st_.num_unknowns, K = kBlock;
    solve_blocks(C, N, [&](int j0, int k) {
      for (int c = 0; c < N; ++c) std::copy(R + c * C + j0, R + c * C + j0 + k, &block_r_[c * K]);
      std::fill(block_rows_.begin(), block_rows_.end(), 1);
    }, dW);
  }

  // The velocities' rows dV (6 nb x C) of newton_step_columns for the C = 12 nb + nu columns of a
  // step's Jacobian held as blocks (dojax.residual.ColumnBlocks): row t of data (n x 12) is
  // residual row rows[t] in the 12 tangent columns of body bodies[t], and action
  // ((6 nb + 6 nj) x nu) the bodies' and joints' rows of the action's columns.
  void jacobian_columns(const double* data, const int64_t* rows, const int64_t* bodies, int64_t n,
                        const double* action, int nu, double* dV) {
    const int nb = st_.nb, K = kBlock, na = 6 * (nb + st_.nj);
    std::vector<int64_t> first(nb + 1, 0), order(n);  // the rows of each body's columns, body by body
    for (int64_t t = 0; t < n; ++t) ++first[bodies[t] + 1];
    for (int b = 0; b < nb; ++b) first[b + 1] += first[b];
    std::vector<int64_t> next(first.begin(), first.end() - 1);
    for (int64_t t = 0; t < n; ++t) order[next[bodies[t]]++] = t;
    solve_blocks(12 * nb + nu, 6 * nb, [&](int j0, int k) {
      const int j1 = j0 + k;
      for (int b = j0 / 12; b < nb && 12 * b < j1; ++b)  // (j0 and kBlock are multiples of 12)
        for (int64_t i = first[b]; i < first[b + 1]; ++i) {
          const int64_t t = order[i];
          double* out = &block_r_[rows[t] * K + 12 * b - j0];
          for (int j = 0; j < 12; ++j) out[j] += data[12 * t + j];
          block_rows_[rows[t]] = 1;
        }
      for (int j = std::max(j0, 12 * nb); j < j1; ++j)
        for (int r = 0; r < na; ++r) block_r_[r * K + j - j0] += action[r * nu + j - 12 * nb];
      if (j1 > 12 * nb) std::fill(block_rows_.begin(), block_rows_.begin() + na, 1);
    }, dV);
  }

 private:
  static bool nonzero(const double* v, int n) {
    for (int i = 0; i < n; ++i)
      if (v[i] != 0.0) return true;
    return false;
  }

  // Whether solve_blocks' load wrote any of the n rows from ``begin`` (block_rows_).
  bool written(int begin, int n) const {
    for (int i = begin; i < begin + n; ++i)
      if (block_rows_[i]) return true;
    return false;
  }

  // newton_step for the kBlock right-hand sides side by side in block_r_ (N x kBlock), into block_dw_
  // (with ``only_velocities``, only into the tree's solution block_x_, which holds the velocities'
  // rows). Blocks of zero rows are skipped: a Jacobian's columns for one body's state touch the
  // terms of that body alone, so the elimination reaches only its elements and the tree above it.
  // Rows that solve_blocks' load did not write are not read.
  void newton_step_block(bool only_velocities) {
    const int nb = st_.nb, N = st_.num_unknowns, lam = st_.lam_offset(), K = kBlock;
    block_rhs_.resize(nb * 12 * K);
    live_.assign(nb, 0);
    for (int i = 0; i < nb; ++i) {
      double* out = &block_rhs_[12 * i * K];
      if (!written(6 * i, 6) && !written(lam + 6 * i, 6)) {
        std::fill(out, out + 12 * K, 0.0);
        continue;
      }
      for (int r = 0; r < 6; ++r)
        for (int j = 0; j < K; ++j) {
          out[r * K + j] = -block_r_[(6 * i + r) * K + j];
          out[(6 + r) * K + j] = -block_r_[(lam + 6 * i + r) * K + j];
        }
      live_[i] = nonzero(out, 12 * K);
    }
    for (size_t gi = 0; gi < st_.groups.size(); ++gi) {
      const Group& g = st_.groups[gi];
      const int n = g.type->size;
      for (int e = 0; e < g.ne; ++e) {
        const double* r = &block_r_[(g.unknown_offset + e * n) * K];
        if (!written(g.unknown_offset + e * n, n) || !nonzero(r, n * K)) continue;
        live_[g.a[e]] = 1;
        if (g.b[e] != nb) live_[g.b[e]] = 1;
        switch (n) {
          case 2: eliminated_rhs_block<2>(gi, e, r); break;
          case 8: eliminated_rhs_block<8>(gi, e, r); break;
          case 12: eliminated_rhs_block<12>(gi, e, r); break;
          default: break;
        }
      }
    }
    block_x_.resize(nb * 12 * K);
    if (only_velocities) return tree_solve_velocities(block_rhs_.data(), block_x_.data(), live_.data());
    tree_solve(block_rhs_.data(), block_x_.data(), K, live_.data());
    block_dw_.resize(N * K);
    for (int i = 0; i < nb; ++i)
      for (int r = 0; r < 6; ++r)
        for (int j = 0; j < K; ++j) {
          block_dw_[(6 * i + r) * K + j] = block_x_[(12 * i + r) * K + j];
          block_dw_[(lam + 6 * i + r) * K + j] = block_x_[(12 * i + 6 + r) * K + j];
        }
    for (size_t gi = 0; gi < st_.groups.size(); ++gi) {
      const Group& g = st_.groups[gi];
      const int n = g.type->size;
      for (int e = 0; e < g.ne; ++e) {
        const size_t at = (g.unknown_offset + e * n) * K;
        switch (n) {
          case 2: eliminated_step_block<2>(gi, e, &block_r_[at], &block_dw_[at]); break;
          case 8: eliminated_step_block<8>(gi, e, &block_r_[at], &block_dw_[at]); break;
          case 12: eliminated_step_block<12>(gi, e, &block_r_[at], &block_dw_[at]); break;
          default: break;
        }
      }
    }
  }

 public:
  // The transpose of newton_step's linear map R -> dW: out = -(d residual / d W)^-T G, with the
  // same factorisation (each step of newton_step transposed, in reverse order).
  void newton_step_transposed(const double* G, double* out) {
    const int nb = st_.nb, m = st_.border_size;
    // the transpose of the unpacking: the bodies' and the border's cotangents, and each local
    // element's through dy = -K r - Sa dVa - Sb dVb
    load_rows(G, 1.0, [&](int gi, int e, int n, const double* ge) {
      switch (n) {
        case 2: eliminated_step_transposed<2>(gi, e, ge); break;
        case 8: eliminated_step_transposed<8>(gi, e, ge); break;
        case 12: eliminated_step_transposed<12>(gi, e, ge); break;
        default: break;
      }
    });
    // [A B; C E]^T [u; v] = [x; y]: v = S^-T (y - (A^-1 B)^T x), u = A^-T (x - C^T v)
    if (m > 0) {
      std::vector<double> v(border_rhs_);
      for (int r = 0; r < nb * 12; ++r) {
        const double xr = rhs_[r];
        if (xr == 0.0) continue;
        const double* row = &AinvB_[r * m];
        for (int c = 0; c < m; ++c) v[c] -= row[c] * xr;
      }
      dense_solve_transposed(S_.data(), S_pivots_.data(), v.data(), m);
      for (int r = 0; r < m; ++r) {
        const double vr = v[r];
        if (vr == 0.0) continue;
        const double* row = &C_[r * nb * 12];
        for (int c = 0; c < nb * 12; ++c) rhs_[c] -= row[c] * vr;
      }
      border_ = v;
    }
    x_.assign(nb * 12, 0.0);
    tree_solve_transposed(rhs_.data(), x_.data());
    // the transpose of the packing of the right-hand side
    store_rows(G, -1.0, out, [&](int gi, int e, int n, const double* ge, double* oe) {
      switch (n) {
        case 2: eliminated_rhs_transposed<2>(gi, e, ge, oe); break;
        case 8: eliminated_rhs_transposed<8>(gi, e, ge, oe); break;
        case 12: eliminated_rhs_transposed<12>(gi, e, ge, oe); break;
        default: break;
      }
    });
  }

 private:
  // Reads a vector laid out as the unknowns (v) into the right-hand sides: scale times its bodies'
  // and loop joints' rows into rhs_ and border_rhs_, scale times the border elements' rows into
  // border_rhs_, and each local element's rows through local(group, element, size, rows).
  template <class Local>
  void load_rows(const double* v, double scale, Local local) {
    const int nb = st_.nb;
    rhs_.assign(nb * 12, 0.0);
    border_rhs_.assign(st_.border_size, 0.0);
    for (int i = 0; i < nb; ++i)
      for (int r = 0; r < 6; ++r) {
        rhs_[12 * i + r] = scale * v[6 * i + r];
        rhs_[12 * i + 6 + r] = scale * v[st_.lam_offset() + 6 * i + r];
      }
    for (int k = 0; k < 6 * (st_.nj - nb); ++k) border_rhs_[k] = scale * v[st_.lam_offset() + 6 * nb + k];
    for (size_t gi = 0; gi < st_.groups.size(); ++gi) {
      const Group& g = st_.groups[gi];
      const int n = g.type->size;
      for (int e = 0; e < g.ne; ++e) {
        const double* ve = v + g.unknown_offset + e * n;
        if (g.border) {
          for (int k = 0; k < n; ++k) border_rhs_[g.border_offset + e * n + k] = scale * ve[k];
        } else {
          local(gi, e, n, ve);
        }
      }
    }
  }

  // Writes the solution laid out as the unknowns (out): scale times the tree's x_ into the bodies'
  // rows and the border's border_ into the loop joints' and border elements' rows, and each local
  // element's rows through local(group, element, size, its rows of v, its rows of out).
  template <class Local>
  void store_rows(const double* v, double scale, double* out, Local local) {
    const int nb = st_.nb;
    for (int i = 0; i < nb; ++i)
      for (int r = 0; r < 6; ++r) {
        out[6 * i + r] = scale * x_[12 * i + r];
        out[st_.lam_offset() + 6 * i + r] = scale * x_[12 * i + 6 + r];
      }
    for (int k = 0; k < 6 * (st_.nj - nb); ++k) out[st_.lam_offset() + 6 * nb + k] = scale * border_[k];
    for (size_t gi = 0; gi < st_.groups.size(); ++gi) {
      const Group& g = st_.groups[gi];
      const int n = g.type->size;
      for (int e = 0; e < g.ne; ++e) {
        double* oe = out + g.unknown_offset + e * n;
        if (g.border) {
          for (int k = 0; k < n; ++k) oe[k] = scale * border_[g.border_offset + e * n + k];
        } else {
          local(gi, e, n, v + g.unknown_offset + e * n, oe);
        }
      }
    }
  }

  static constexpr int kBodyOut = 6 + 6 * 6;      // a body's rows and their Jacobian (body_lin)
  static constexpr int kJointOut = 18 + 18 * 18;  // a joint's rows and their Jacobian (joint_*_lin)
  // an element's n + 12 rows and their Jacobian with respect to its 12 + n inputs
  static constexpr size_t element_out_size(int n) { return (12 + n) * (13 + n); }

  // The evaluations of evaluate, each of up to four terms of one generated type (four-lane
  // functions; one term alone by the scalar one): the bodies, the joints by type, and each group's
  // elements by type, a pair of limits (pairs) as one term. Also writes each term's constant
  // outputs, which its generated functions do not store.
  void plan_evaluations() {
    std::vector<std::pair<LinFunction, size_t>> open;  // the evaluations that have room, by function
    auto add = [&](int group, int term, LinFunction lin, Lin4Function lin4, const OutputConstant* constants,
                   double* out) {
      for (const OutputConstant* c = constants; c->index >= 0; ++c) out[c->index] = c->value;
      auto it = std::find_if(open.begin(), open.end(), [&](const auto& o) { return o.first == lin; });
      if (it == open.end()) {
        evaluations_.push_back({lin, lin4, group, 0, {}});
        it = open.insert(open.end(), {lin, evaluations_.size() - 1});
      }
      Evaluation& ev = evaluations_[it->second];
      ev.term[ev.count++] = term;
      if (ev.count == 4) open.erase(it);
    };
    for (int i = 0; i < st_.nb; ++i) add(kBodies, i, body_lin, body_lin4, body_lin_constants, &body_out_[i * kBodyOut]);
    open.clear();
    for (int j = 0; j < st_.nj; ++j) {
      const JointType& t = *st_.joint_type[j];
      add(kJoints, j, t.lin, t.lin4, t.constants, &joint_out_[j * kJointOut]);
    }
    for (size_t gi = 0; gi < st_.groups.size(); ++gi) {
      open.clear();
      const Group& g = st_.groups[gi];
      for (int e = 0; e < g.ne; ++e) {
        const ElementType& t = *g.types[e];
        if (paired_[gi][e])
          add(static_cast<int>(gi), e, t.pair_lin, t.pair_lin4, t.pair_constants, element_out(gi, e));
        else
          add(static_cast<int>(gi), e, t.lin, t.lin4, t.lin_constants, element_out(gi, e));
        e += paired_[gi][e];
      }
    }
  }

  // Per element of a group with parameters p: whether it is evaluated together with the next one
  // (ElementType::pair_lin): the same type and bodies, and parameters equal but for
  // LIMIT_OWN_PARAMS (a joint row's lower and upper limit, which the model lists in turn).
  static std::vector<char> pairs(const Group& g, const double* p) {
    std::vector<char> paired(g.ne, 0);
    const int np = g.type->num_params;
    if (2 * g.type->size > kMaxElement) return paired;  // (evaluate's input holds two elements' unknowns)
    for (int e = 0; e + 1 < g.ne; ++e) {
      if (!g.types[e]->pair_lin || g.types[e] != g.types[e + 1] || g.a[e] != g.a[e + 1] || g.b[e] != g.b[e + 1]) continue;
      const double* p0 = p + e * np;
      const double* p1 = p0 + np;
      bool same = true;
      for (int k = 0, own = 0; k < np && same; ++k) {
        if (own < NUM_LIMIT_OWN_PARAMS && LIMIT_OWN_PARAMS[own] == k) {
          ++own;
          continue;
        }
        same = p0[k] == p1[k];
      }
      if (same) paired[e++] = 1;
    }
    return paired;
  }
  double* element_out(size_t gi, int e) {
    return &element_out_[element_out_offset_[gi] + e * element_out_size(st_.groups[gi].type->size)];
  }

  double& D(int i, int r, int c) { return D_[i * 144 + r * 12 + c]; }
  double& Lm(int i, int r, int c) { return L_[i * 144 + r * 12 + c]; }
  double& Um(int i, int r, int c) { return U_[i * 144 + r * 12 + c]; }
  double& Bm(int i, int r, int col) { return B_[(i * 12 + r) * st_.border_size + col]; }
  double& Cm(int row, int i, int c) { return C_[row * st_.nb * 12 + i * 12 + c]; }

  // K[k] = (d rows / d y)^-1 (N x N, from column 12 of jacs[k], leading dimension 12 + N) for
  // count (1 to 4) local elements:
  // - a joint limit's or a frictionless contact's (N = 2) in closed form;
  // - a cone contact's (N = 8) by its sparsity, which dojax.native.generate checks for every such
  //   element: the rows of the gap and of the tangential velocities (0, 2, 3) read their slacks
  //   (4, 6, 7) alone, the normal impulse's complementarity row (4) reads it (0) and the gap's
  //   slack, the cone's head row (1) reads it (1) and the normal impulse, so only the cone's
  //   complementarity rows (5 to 7) need a dense solve, in the unknowns 2, 3 and 5 (by
  //   Gauss-Jordan, those rows equilibrated first);
  // - a pyramid contact's (N = 12) by Gauss-Jordan, its rows equilibrated first (complementarity
  //   rows scale with the slacks).
  template <int N>
  static void local_inverse(int count, const double* const* jacs, double* const* K) {
    constexpr int w = 12 + N;
    if constexpr (N == 2) {
      for (int k = 0; k < count; ++k) {
        const double* J = jacs[k] + 12;
        const double inv_det = 1.0 / (J[0] * J[w + 1] - J[1] * J[w]);
        K[k][0] = J[w + 1] * inv_det;
        K[k][1] = -J[1] * inv_det;
        K[k][2] = -J[w] * inv_det;
        K[k][3] = J[0] * inv_det;
      }
    } else if constexpr (N == 8) {
      for (int k = 0; k < count; ++k) {
        const double* J = jacs[k] + 12;
        auto j = [&](int r, int c) { return J[r * w + c]; };
        double* row[8];  // K's rows, by unknown
        for (int u = 0; u < 8; ++u) {
          row[u] = K[k] + 8 * u;
          std::fill(row[u], row[u] + 8, 0.0);
        }
        row[4][0] = 1.0 / j(0, 4);
        row[6][2] = 1.0 / j(2, 6);
        row[7][3] = 1.0 / j(3, 7);
        for (int c = 0; c < 8; ++c) row[0][c] = ((c == 4 ? 1.0 : 0.0) - j(4, 4) * row[4][c]) / j(4, 0);
        for (int c = 0; c < 8; ++c) row[1][c] = ((c == 1 ? 1.0 : 0.0) - j(1, 0) * row[0][c]) / j(1, 1);
        constexpr int known[5] = {0, 1, 4, 6, 7}, dense[3] = {2, 3, 5};
        double M[9], Minv[9], T[3][8];
        for (int a = 0; a < 3; ++a) {
          double big = 0.0;
          for (int c = 0; c < 8; ++c) big = nanmax(big, std::fabs(j(5 + a, c)));
          const double scale = 1.0 / big;
          for (int b = 0; b < 3; ++b) M[3 * a + b] = scale * j(5 + a, dense[b]);
          for (int c = 0; c < 8; ++c) {
            double t = c == 5 + a ? 1.0 : 0.0;
            for (int u : known) t -= j(5 + a, u) * row[u][c];
            T[a][c] = scale * t;
          }
        }
        const double* Ms[1] = {M};
        double* Minvs[1] = {Minv};
        invert_fixed<3, 1>(Ms, Minvs);
        for (int a = 0; a < 3; ++a)
          for (int c = 0; c < 8; ++c)
            row[dense[a]][c] = Minv[3 * a] * T[0][c] + Minv[3 * a + 1] * T[1][c] + Minv[3 * a + 2] * T[2][c];
      }
    } else {
      double Jy[4][N * N], scale[4][N];
      const double* Jys[4];
      for (int k = 0; k < count; ++k) {
        const double* jac = jacs[k];
        for (int r = 0; r < N; ++r) {
          double big = 0.0;
          for (int c = 0; c < N; ++c) big = nanmax(big, std::fabs(jac[r * w + 12 + c]));
          scale[k][r] = 1.0 / big;
          for (int c = 0; c < N; ++c) Jy[k][r * N + c] = scale[k][r] * jac[r * w + 12 + c];
        }
        Jys[k] = Jy[k];
      }
      invert_up_to_four<N>(count, Jys, K);
      for (int k = 0; k < count; ++k)
        for (int r = 0; r < N; ++r)
          for (int c = 0; c < N; ++c) K[k][r * N + c] *= scale[k][c];
    }
  }

  // Eliminates count (1 to 4) local elements e0, e0 + 1, ... of a group (contacts with the world
  // or joint limits) into their bodies' blocks: dy = -K r - Sa dVa - Sb dVb with K the inverse of
  // d rows / d y (local_inverse).
  template <int N>
  void eliminate(size_t gi, int e0, int count, const double* const* jacs) {
    const int w = 12 + N, nb = st_.nb;
    LocalElimination& le = local_[gi];
    const Group& g = st_.groups[gi];
    double* Ks[4];
    for (int k = 0; k < count; ++k) Ks[k] = le.K.data() + (e0 + k) * N * N;
    local_inverse<N>(count, jacs, Ks);
    // the products run over the element's nonzero couplings to its bodies alone: the rows that read
    // the velocities (Ca, Cb: nv x 6) and the unknowns that the bodies' rows read (Ba, Bb: 6 x ni)
    const ElementType& t = *g.type;
    constexpr int nv = coupled(N), ni = coupled(N);
    const int *vr = t.velocity_rows, *im = t.impulses;
    for (int k = 0; k < count; ++k) {
      const int e = e0 + k, a = g.a[e], b = g.b[e];
      const double* jac = jacs[k];
      double Ca[N * 6], Cb[N * 6], Ba[6 * N], Bb[6 * N];
      for (int q = 0; q < nv; ++q)
        for (int c = 0; c < 6; ++c) {
          Ca[q * 6 + c] = jac[vr[q] * w + c];
          Cb[q * 6 + c] = jac[vr[q] * w + 6 + c];
        }
      for (int r = 0; r < 6; ++r)
        for (int q = 0; q < ni; ++q) {
          Ba[r * ni + q] = jac[(N + r) * w + 12 + im[q]];
          Bb[r * ni + q] = jac[(N + 6 + r) * w + 12 + im[q]];
        }
      double* Ke = Ks[k];
      double* Sa = le.Sa.data() + e * N * 6;
      double* Sb = le.Sb.data() + e * N * 6;
      mm_cols<N, 6, nv>(Ke, N, vr, Ca, Sa, 6);
      mm_rows<6, N, ni>(Ba, im, Ke, N, le.BKa.data() + e * 6 * N, N);
      mm_rows<6, 6, ni>(Ba, im, Sa, 6, &D(a, 0, 0), 12, -1.0, true);
      if (b != nb) {
        mm_cols<N, 6, nv>(Ke, N, vr, Cb, Sb, 6);
        mm_rows<6, N, ni>(Bb, im, Ke, N, le.BKb.data() + e * 6 * N, N);
        mm_rows<6, 6, ni>(Bb, im, Sb, 6, &D(b, 0, 0), 12, -1.0, true);
        // b is a's parent (a joint limit): the coupling lives in a's tree blocks
        mm_rows<6, 6, ni>(Ba, im, Sb, 6, &Lm(a, 0, 0), 12, -1.0, true);
        mm_rows<6, 6, ni>(Bb, im, Sa, 6, &Um(a, 0, 0), 12, -1.0, true);
      }
    }
  }

  // A local element's share of the reduced right-hand side: b_a += BKa r, b_b += BKb r.
  template <int N>
  void eliminated_rhs(size_t gi, int e, const double* r) {
    const LocalElimination& le = local_[gi];
    const Group& g = st_.groups[gi];
    mm<6, N, 1>(le.BKa.data() + e * 6 * N, N, r, 1, &rhs_[12 * g.a[e]], 1, 1.0, true);
    if (g.b[e] != st_.nb) mm<6, N, 1>(le.BKb.data() + e * 6 * N, N, r, 1, &rhs_[12 * g.b[e]], 1, 1.0, true);
  }

  // A local element's variables from its bodies' steps: dy = -K r - Sa dVa - Sb dVb.
  template <int N>
  void eliminated_step(size_t gi, int e, const double* r, double* dy) {
    const LocalElimination& le = local_[gi];
    const Group& g = st_.groups[gi];
    mm<N, N, 1>(le.K.data() + e * N * N, N, r, 1, dy, 1, -1.0);
    mm<N, 6, 1>(le.Sa.data() + e * N * 6, 6, &x_[12 * g.a[e]], 1, dy, 1, -1.0, true);
    if (g.b[e] != st_.nb) mm<N, 6, 1>(le.Sb.data() + e * N * 6, 6, &x_[12 * g.b[e]], 1, dy, 1, -1.0, true);
  }

  // The transpose of eliminated_step's dependence on the bodies' steps: x_a -= Sa^T g, x_b -= Sb^T g.
  template <int N>
  void eliminated_step_transposed(size_t gi, int e, const double* g) {
    const LocalElimination& le = local_[gi];
    const Group& grp = st_.groups[gi];
    const double* Sa = le.Sa.data() + e * N * 6;
    const double* Sb = le.Sb.data() + e * N * 6;
    for (int r = 0; r < N; ++r)
      for (int c = 0; c < 6; ++c) rhs_[12 * grp.a[e] + c] -= Sa[r * 6 + c] * g[r];
    if (grp.b[e] != st_.nb)
      for (int r = 0; r < N; ++r)
        for (int c = 0; c < 6; ++c) rhs_[12 * grp.b[e] + c] -= Sb[r * 6 + c] * g[r];
  }

  // A local element's cotangent: out = BKa^T u_a + BKb^T u_b - K^T g, with u = x_ negated
  // (the transpose of eliminated_rhs and of eliminated_step's -K r).
  template <int N>
  void eliminated_rhs_transposed(size_t gi, int e, const double* g, double* out) {
    const LocalElimination& le = local_[gi];
    const Group& grp = st_.groups[gi];
    const double* K = le.K.data() + e * N * N;
    const double* BKa = le.BKa.data() + e * 6 * N;
    const double* BKb = le.BKb.data() + e * 6 * N;
    for (int c = 0; c < N; ++c) out[c] = 0.0;
    for (int r = 0; r < N; ++r)
      for (int c = 0; c < N; ++c) out[c] -= K[r * N + c] * g[r];
    const double* ua = &x_[12 * grp.a[e]];
    for (int k = 0; k < 6; ++k)
      for (int c = 0; c < N; ++c) out[c] += BKa[k * N + c] * ua[k];
    if (grp.b[e] != st_.nb) {
      const double* ub = &x_[12 * grp.b[e]];
      for (int k = 0; k < 6; ++k)
        for (int c = 0; c < N; ++c) out[c] += BKb[k * N + c] * ub[k];
    }
  }

  void velocities(const double* W, int a, int b, double* u) const { term_velocities(W, st_.nb, a, b, u); }

  void add_body_rows(double* R, int body, const double* rows) const {
    if (body == st_.nb) return;
    for (int r = 0; r < 6; ++r) R[6 * body + r] += rows[r];
  }

  // x = A^-T b for the tree matrix, b and x nb * 12: the factorisation of A^T has the transposed
  // diagonal blocks, L^T above and U^T below them.
  void tree_solve_transposed(const double* b_in, double* x) {
    const int nb = st_.nb;
    work_.assign(b_in, b_in + nb * 12);
    double* b = work_.data();
    double y[12], t[12];
    for (int lv = 0; lv < st_.n_levels; ++lv)
      for (int q = 0; q < st_.width; ++q) {
        const int i = st_.levels[lv * st_.width + q];
        if (i == nb || st_.parent[i] == nb) continue;
        mv<12, 12>(&inv_[i * 144], b + 12 * i, y);  // y = inv^T b (inv_ is inv^T's transpose)
        double* bp = b + 12 * st_.parent[i];
        const double* L = &L_[i * 144];
        for (int r = 0; r < 12; ++r)
          for (int c = 0; c < 6; ++c) bp[c] -= L[r * 12 + c] * y[r];
      }
    for (int lv = st_.n_levels - 1; lv >= 0; --lv)
      for (int q = 0; q < st_.width; ++q) {
        const int i = st_.levels[lv * st_.width + q];
        if (i == nb) continue;
        std::copy(b + 12 * i, b + 12 * i + 12, t);
        const int pa = st_.parent[i];
        if (pa != nb) {
          const double* U = &U_[i * 144];
          const double* xp = x + 12 * pa;
          for (int r = 0; r < 6; ++r)
            for (int c = 0; c < 12; ++c) t[c] -= U[r * 12 + c] * xp[r];
        }
        mv<12, 12>(&inv_[i * 144], t, x + 12 * i);
      }
  }

  // x = A^-1 b for the tree matrix, b and x (nb * 12) x k (dojax.linalg.solve). With ``live`` (k > 1),
  // the bodies whose rows of b may be nonzero: the leaves-first pass skips the others' zero rows.
  void tree_solve(const double* b_in, double* x, int k, char* live = nullptr) {
    const int nb = st_.nb;
    if (k == 1) {
      work_.assign(b_in, b_in + nb * 12);
      double* b = work_.data();
      double y[12], t[12];
      for (int lv = 0; lv < st_.n_levels; ++lv)
        for (int q = 0; q < st_.width; ++q) {
          const int i = st_.levels[lv * st_.width + q];
          if (i == nb || st_.parent[i] == nb) continue;
          mv<12, 12>(&invT_[i * 144], b + 12 * i, y);
          mv<6, 12>(&UT_[i * 72], y, b + 12 * st_.parent[i], -1.0, true);
        }
      for (int lv = st_.n_levels - 1; lv >= 0; --lv)
        for (int q = 0; q < st_.width; ++q) {
          const int i = st_.levels[lv * st_.width + q];
          if (i == nb) continue;
          std::copy(b + 12 * i, b + 12 * i + 12, t);
          const int pa = st_.parent[i];
          if (pa != nb) mv<12, 6>(&LT_[i * 72], x + 12 * pa, t, -1.0, true);
          mv<12, 12>(&invT_[i * 144], t, x + 12 * i);
        }
      return;
    }
    std::vector<double> b(b_in, b_in + nb * 12 * k), y(12 * k), t(12 * k);
    for (int lv = 0; lv < st_.n_levels; ++lv)
      for (int q = 0; q < st_.width; ++q) {
        const int i = st_.levels[lv * st_.width + q];
        if (i == nb || st_.parent[i] == nb || (live && !live[i])) continue;
        mm_block<12, 12>(&inv_[i * 144], 12, &b[i * 12 * k], y.data(), k);
        mm_block<6, 12>(&U_[i * 144], 12, y.data(), &b[st_.parent[i] * 12 * k], k, -1.0, true);
        if (live) live[st_.parent[i]] = 1;
      }
    for (int lv = st_.n_levels - 1; lv >= 0; --lv)
      for (int q = 0; q < st_.width; ++q) {
        const int i = st_.levels[lv * st_.width + q];
        if (i == nb) continue;
        std::copy(&b[i * 12 * k], &b[(i + 1) * 12 * k], t.begin());
        const int pa = st_.parent[i];
        if (pa != nb) mm_block<12, 6>(&L_[i * 144], 12, &x[pa * 12 * k], t.data(), k, -1.0, true);
        mm_block<12, 12>(&inv_[i * 144], 12, t.data(), &x[i * 12 * k], k);
      }
  }

  // The velocities' rows (the first 6 of each body's 12) of x = A^-1 b for kBlock right-hand sides
  // (b, x: (nb * 12) x kBlock; b is overwritten, x's other rows are not computed): tree_solve with
  // the products that only the velocities need, P = U inv (6 x 12: a body's update of its parent's
  // rows, which U's 6 rows couple to) and R = inv[:6] L (6 x 6: L couples to the parent's
  // velocities alone), formed once per factorisation. Per body and column that is 180
  // multiply-adds instead of 432.
  void tree_solve_velocities(double* b, double* x, char* live) {
    const int nb = st_.nb, K = kBlock;
    if (P_.empty()) {
      P_.resize(nb * 72);
      R_.resize(nb * 36);
      for (int i = 0; i < nb; ++i) {
        if (st_.parent[i] == nb) continue;
        mm<6, 12, 12>(&U_[i * 144], 12, &inv_[i * 144], 12, &P_[i * 72], 12);
        mm<6, 12, 6>(&inv_[i * 144], 12, &L_[i * 144], 12, &R_[i * 36], 6);
      }
    }
    for (int lv = 0; lv < st_.n_levels; ++lv)
      for (int q = 0; q < st_.width; ++q) {
        const int i = st_.levels[lv * st_.width + q], pa = i == nb ? nb : st_.parent[i];
        if (pa == nb || !live[i]) continue;
        mm<6, 12, kBlock>(&P_[i * 72], 12, b + i * 12 * K, K, b + pa * 12 * K, K, -1.0, true);
        live[pa] = 1;
      }
    for (int lv = st_.n_levels - 1; lv >= 0; --lv)
      for (int q = 0; q < st_.width; ++q) {
        const int i = st_.levels[lv * st_.width + q];
        if (i == nb) continue;
        mm<6, 12, kBlock>(&inv_[i * 144], 12, b + i * 12 * K, K, x + i * 12 * K, K);
        if (st_.parent[i] != nb)
          mm<6, 6, kBlock>(&R_[i * 36], 6, x + st_.parent[i] * 12 * K, K, x + i * 12 * K, K, -1.0, true);
      }
  }

  // A local element's share of kBlock reduced right-hand sides (r: n x kBlock): b_a += BKa r, b_b += BKb r.
  template <int N>
  void eliminated_rhs_block(size_t gi, int e, const double* r) {
    const LocalElimination& le = local_[gi];
    const Group& g = st_.groups[gi];
    double* rhs = block_rhs_.data();
    mm_block<6, N>(le.BKa.data() + e * 6 * N, N, r, rhs + 12 * g.a[e] * kBlock, kBlock, 1.0, true);
    if (g.b[e] != st_.nb) mm_block<6, N>(le.BKb.data() + e * 6 * N, N, r, rhs + 12 * g.b[e] * kBlock, kBlock, 1.0, true);
  }

  // A local element's variables for kBlock right-hand sides: dy = -K r - Sa dVa - Sb dVb (n x kBlock).
  template <int N>
  void eliminated_step_block(size_t gi, int e, const double* r, double* dy) {
    const LocalElimination& le = local_[gi];
    const Group& g = st_.groups[gi];
    const double* x = block_x_.data();
    mm_block<N, N>(le.K.data() + e * N * N, N, r, dy, kBlock, -1.0);
    mm_block<N, 6>(le.Sa.data() + e * N * 6, 6, x + 12 * g.a[e] * kBlock, dy, kBlock, -1.0, true);
    if (g.b[e] != st_.nb) mm_block<N, 6>(le.Sb.data() + e * N * 6, 6, x + 12 * g.b[e] * kBlock, dy, kBlock, -1.0, true);
  }

  const Structure& st_;
  const double* p_;
  std::vector<double> D_, L_, U_, inv_, invT_, UT_, LT_, B_, C_, E_, S_, AinvB_;  // S_: the border's Schur complement, LU-factored
  std::vector<int> S_pivots_;
  std::vector<LocalElimination> local_;
  std::vector<std::vector<char>> paired_;  // per group, per element: evaluated with the next one (pairs)
  static constexpr int kBodies = -2, kJoints = -1;  // Evaluation::group of the bodies and joints
  struct Evaluation {
    LinFunction lin;
    Lin4Function lin4;
    int group;    // kBodies, kJoints, or an element group
    int count;    // terms, 1 to 4
    int term[4];  // body, joint or element (the first of a pair)
  };
  std::vector<Evaluation> evaluations_;  // evaluate's, in turn (plan_evaluations)
  std::vector<double> body_out_, joint_out_, element_out_;  // evaluate's rows and Jacobians
  std::vector<size_t> element_out_offset_;                 // each group's start in element_out_
  std::vector<double> rhs_, border_rhs_, x_, border_, work_, block_r_, block_rhs_, block_x_, block_dw_;
  std::vector<char> live_;  // newton_step_block: the bodies whose reduced rows may be nonzero
  std::vector<char> block_rows_;  // solve_blocks: the rows of block_r_ that its load wrote
  std::vector<double> P_, R_;  // tree_solve_velocities' products, formed at its first call
};

// ---- the interior-point iterations (dojax.solver.solve) -------------------------------------------

struct Violations {
  double eq, centred, comp;
};

class InteriorPoint {
 public:
  InteriorPoint(const Structure& st, const double* params, double h, const Options& o)
      : st_(st), h_(h), o_(o), lin_(st, params) {}

  Violations violations(const double* R, double kappa) const {
    Violations v{0.0, 0.0, 0.0};
    for (int k = 0; k < 6 * st_.nb + 6 * st_.nj; ++k) v.eq = nanmax(v.eq, std::fabs(R[k]));
    for (const Group& g : st_.groups) {
      const ElementType& t = *g.type;
      for (int e = 0; e < g.ne; ++e) {
        const double* r = R + g.unknown_offset + e * t.size;
        for (int k = 0; k < t.num_equalities; ++k) v.eq = nanmax(v.eq, std::fabs(r[k]));
        for (int k = t.num_equalities; k < t.size; ++k) {
          const double ident = identity(t, k - t.num_equalities);
          v.comp = nanmax(v.comp, std::fabs(r[k]));
          v.centred = nanmax(v.centred, std::fabs(r[k] - kappa * ident));
        }
      }
    }
    return v;
  }

  // complementarity-row identity e (orthant rows, then [1, 0, 0] per SOC pair)
  static double identity(const ElementType& t, int row) {
    if (row < t.num_orthant) return 1.0;
    return (row - t.num_orthant) % 3 == 0 ? 1.0 : 0.0;
  }

  // Jordan products of the cone pairs of y, in complementarity-row order.
  static void jordan(const ElementType& t, const double* y, double* out) {
    for (int k = 0; k < t.num_orthant; ++k) out[k] = y[t.orthant[k][0]] * y[t.orthant[k][1]];
    for (int s = 0; s < t.num_soc; ++s) {
      const int* p = t.soc[s][0];
      const int* d = t.soc[s][1];
      double* o = out + t.num_orthant + 3 * s;
      o[0] = y[p[0]] * y[d[0]] + y[p[1]] * y[d[1]] + y[p[2]] * y[d[2]];
      o[1] = y[p[0]] * y[d[1]] + y[d[0]] * y[p[1]];
      o[2] = y[p[0]] * y[d[2]] + y[d[0]] * y[p[2]];
    }
  }

  static double orthant_step(double y, double dy) { return dy < 0.0 ? -y / dy : INFINITY; }

  static double soc_step(const double* u, const double* du) {
    const double a = du[0] * du[0] - (du[1] * du[1] + du[2] * du[2]);
    const double b = u[0] * du[0] - (u[1] * du[1] + u[2] * du[2]);
    const double c = u[0] * u[0] - (u[1] * u[1] + u[2] * u[2]);
    const double disc = b * b - a * c;
    const double root = std::sqrt(std::max(disc, 0.0));
    const double d1 = -b - root, d2 = -b + root;
    double r1 = c / (std::fabs(d1) > 0 ? d1 : -1.0);
    double r2 = c / (std::fabs(d2) > 0 ? d2 : -1.0);
    r1 = (r1 > 0 && disc >= 0) ? r1 : INFINITY;
    r2 = (r2 > 0 && disc >= 0) ? r2 : INFINITY;
    const double head = du[0] < 0.0 ? -u[0] / du[0] : INFINITY;
    return std::min(std::min(r1, r2), head);
  }

  double max_step(const double* W, const double* dW) const {
    double alpha = INFINITY;
    for (const Group& g : st_.groups) {
      const ElementType& t = *g.type;
      for (int e = 0; e < g.ne; ++e) {
        const double* y = W + g.unknown_offset + e * t.size;
        const double* dy = dW + g.unknown_offset + e * t.size;
        for (int k = 0; k < t.num_orthant; ++k)
          for (int s = 0; s < 2; ++s) alpha = nanmin(alpha, orthant_step(y[t.orthant[k][s]], dy[t.orthant[k][s]]));
        for (int q = 0; q < t.num_soc; ++q)
          for (int s = 0; s < 2; ++s) {
            const int* idx = t.soc[q][s];
            const double u[3] = {y[idx[0]], y[idx[1]], y[idx[2]]};
            const double du[3] = {dy[idx[0]], dy[idx[1]], dy[idx[2]]};
            alpha = nanmin(alpha, soc_step(u, du));
          }
      }
    }
    return alpha;
  }

  double duality(const double* W) const {
    double total = 0.0;
    int count = 0;
    for (const Group& g : st_.groups) {
      const ElementType& t = *g.type;
      double group_total = 0.0;
      for (int k = 0; k < t.num_orthant; ++k)
        for (int e = 0; e < g.ne; ++e) {
          const double* y = W + g.unknown_offset + e * t.size;
          group_total += y[t.orthant[k][0]] * y[t.orthant[k][1]];
        }
      for (int q = 0; q < t.num_soc; ++q)
        for (int e = 0; e < g.ne; ++e) {
          const double* y = W + g.unknown_offset + e * t.size;
          for (int c = 0; c < 3; ++c) group_total += y[t.soc[q][0][c]] * y[t.soc[q][1][c]];
        }
      total += group_total;
      count += (t.num_orthant + t.num_soc) * g.ne;
    }
    return total / count;
  }

  void clip_angular(double* W) const {
    const double limit = std::sqrt(3.9) / h_;
    for (int i = 0; i < st_.nb; ++i) {
      double* w = W + 6 * i + 3;
      const double speed = std::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
      if (speed > limit)
        for (int k = 0; k < 3; ++k) w[k] *= limit / speed;
    }
  }

  // Solves from W (in place); info = [converged, iterations, residual, complementarity, kappa].
  void solve(double* W, double* info) {
    const int N = st_.num_unknowns;
    std::vector<double> R(N), Rc(N), d_aff(N), dW(N), Wt(N), Rt(N), Wa(N);
    lin_.evaluate(W, R.data());
    bool evaluated = true;  // lin_ holds the terms' Jacobians at W
    double kappa = o_.btol / o_.undercut;
    Violations v = violations(R.data(), kappa);
    int stalled = 0, it = 0;
    const bool cones = st_.has_cones();
    auto keep_going = [&]() {
      return (v.eq >= o_.rtol || v.centred >= o_.rtol) && it < o_.max_iter && std::isfinite(v.eq + v.centred);
    };
    while (keep_going()) {
      if (!evaluated) lin_.evaluate(W, nullptr);
      lin_.factorise();
      double alpha0 = 1.0;
      if (cones) {
        // Mehrotra's predictor: the affine step sets the centring and its second-order term. Near
        // the target (nu < 10 kappa) the step centres on kappa whatever the predictor gives, and
        // uses neither, so the predictor's solve is skipped there (the same step as computing it).
        const double nu = duality(W);
        bool centring = nu < 10.0 * kappa;
        double mu = kappa;
        if (!centring) {
          lin_.newton_step(R.data(), d_aff.data());
          const double a_aff = std::min(1.0, max_step(W, d_aff.data()));
          for (int k = 0; k < N; ++k) Wa[k] = W[k] + a_aff * d_aff[k];
          const double nu_aff = duality(Wa.data());
          const double sigma = std::pow(std::min(std::max(nu_aff / nu, 0.0), 1.0), 3);
          centring = sigma * nu <= kappa;
          mu = centring ? kappa : sigma * nu;
        }
        Rc = R;
        for (const Group& g : st_.groups) {
          const ElementType& t = *g.type;
          const int nc = t.size - t.num_equalities;
          for (int e = 0; e < g.ne; ++e) {
            double* r = Rc.data() + g.unknown_offset + e * t.size + t.num_equalities;
            double second[kMaxElement] = {};
            if (!centring) jordan(t, d_aff.data() + g.unknown_offset + e * t.size, second);
            for (int k = 0; k < nc; ++k) r[k] += second[k] - mu * identity(t, k);
          }
        }
        lin_.newton_step(Rc.data(), dW.data());
        const double worst = std::max(v.eq, v.centred);
        const double tau = std::min(std::max(1.0 - worst * worst, 0.95), 0.99);
        alpha0 = std::min(1.0, tau * max_step(W, dW.data()));
      } else {
        lin_.newton_step(R.data(), dW.data());
      }
      auto trial = [&](double alpha, Violations& vt) {
        for (int k = 0; k < N; ++k) Wt[k] = W[k] + alpha * dW[k];
        clip_angular(Wt.data());
        lin_.evaluate(Wt.data(), Rt.data());  // the next iteration's Jacobians too, if it is taken
        vt = violations(Rt.data(), kappa);
      };
      Violations vn;
      trial(alpha0, vn);
      int k = 0;
      auto worse = [&]() {
        const bool grew = vn.eq >= std::max(v.eq, o_.rtol) && vn.centred >= std::max(v.centred, o_.rtol);
        return (grew || !std::isfinite(vn.eq + vn.centred)) && k < o_.max_ls;
      };
      while (worse()) {
        ++k;
        trial(alpha0 * std::pow(0.5, k), vn);
      }
      evaluated = std::isfinite(vn.eq + vn.centred);  // the last trial is taken, or none
      if (evaluated) {  // never step onto a non-finite point
        std::copy(Wt.begin(), Wt.end(), W);
        R = Rt;
      } else {
        vn = v;
      }
      if (cones) {
        const bool progress = (v.eq >= o_.rtol && vn.eq < 0.8 * v.eq) || (v.centred >= o_.rtol && vn.centred < 0.8 * v.centred);
        stalled = progress ? 0 : stalled + 1;
        if (stalled >= o_.no_progress_max) {
          kappa /= o_.no_progress_undercut;
          stalled = 0;
          vn = violations(R.data(), kappa);
        }
      }
      if (o_.verbose)
        std::printf("iter %3d  rvio %.2e  bvio %.2e  centring %.2e  step %.2e  kappa %.1e\n", it + 1, vn.eq, vn.comp,
                    vn.centred, alpha0, kappa);
      v = vn;
      ++it;
    }
    const bool ok = v.eq < o_.rtol && v.centred < o_.rtol && std::isfinite(v.eq + v.centred);
    info[0] = ok ? 1.0 : 0.0;
    info[1] = it;
    info[2] = v.eq;
    info[3] = v.comp;
    info[4] = kappa;
  }

 private:
  const Structure& st_;
  double h_;
  Options o_;
  Solver lin_;
};

// Solves one lane in place from the unknowns in w: p its parameters, o its options (rtol, btol,
// undercut, no_progress_max, no_progress_undercut, timestep), info its [converged, iterations,
// residual, complementarity, kappa].
void solve_lane(const Structure& st, const double* p, const double* o, int64_t max_iter, int64_t max_ls,
                int64_t verbose, double* w, double* info) {
  Options opts{o[0], o[1], o[2], o[3], o[4], static_cast<int>(max_iter), static_cast<int>(max_ls), verbose != 0};
  InteriorPoint solver(st, p, o[5], opts);
  solver.solve(w, info);
}

ffi::Error step_solve(ffi::Buffer<ffi::F64> params, ffi::Buffer<ffi::F64> W0, ffi::Buffer<ffi::F64> options,
                      ffi::ResultBuffer<ffi::F64> W, ffi::ResultBuffer<ffi::F64> info,
                      ffi::Span<const int64_t> structure, int64_t max_iter, int64_t max_ls, int64_t verbose) {
  Structure st;
  if (!parse_structure(structure, st)) return ffi::Error::InvalidArgument("dojax kernel: malformed structure");
  const size_t P = st.num_params, N = st.num_unknowns;
  if (params.element_count() % P != 0) return ffi::Error::InvalidArgument("dojax kernel: parameter size mismatch");
  const size_t batch = params.element_count() / P;
  if (W0.element_count() != batch * N || options.element_count() != batch * 6)
    return ffi::Error::InvalidArgument("dojax kernel: buffer sizes do not match the structure");
  // lanes are independent: spread over the cores this process may use (OpenMP; OMP_NUM_THREADS
  // limits them); each lane's result does not depend on the thread that solves it
#pragma omp parallel for schedule(dynamic) if (batch > 1)
  for (size_t lane = 0; lane < batch; ++lane) {
    double* w = W->typed_data() + lane * N;
    std::copy(W0.typed_data() + lane * N, W0.typed_data() + (lane + 1) * N, w);
    solve_lane(st, params.typed_data() + lane * P, options.typed_data() + lane * 6, max_iter, max_ls, verbose, w,
               info->typed_data() + lane * 5);
  }
  return ffi::Error::Success();
}


// The size of one lane's local inputs (dojax.residual.local_inputs, packed as for local_jacobians).
size_t local_input_size(const Structure& st) {
  size_t L = st.nb * BODY_PARAMS + st.nj * JOINT_LOCAL_PARAMS;
  for (const Group& g : st.groups) L += g.ne * g.type->num_local_params;
  return L;
}

// One lane's parameters p (num_params) from its local inputs, by each term's generated *_prepare
// function (dojax.residual.make_problem), and with w (num_unknowns, or null) its starting unknowns
// (dojax.residual.initial_unknowns).
void prepare(const Structure& st, const double* in, double* p, double* w) {
  double out[std::max(BODY_PARAMS + 6, JOINT_PARAMS)];
  for (int i = 0; i < st.nb; ++i, in += BODY_PARAMS, p += BODY_PARAMS) {
    body_prepare(in, nullptr, out);
    std::copy(out, out + BODY_PARAMS, p);
    if (w) std::copy(out + BODY_PARAMS, out + BODY_PARAMS + 6, w + 6 * i);
  }
  for (int j = 0; j < st.nj; ++j, in += JOINT_LOCAL_PARAMS, p += JOINT_PARAMS) joint_prepare(in, nullptr, p);
  if (w) std::fill(w + st.lam_offset(), w + st.lam_offset() + 6 * st.nj, 0.0);
  std::vector<double> element;
  for (const Group& g : st.groups) {
    const int n = g.type->size, np = g.type->num_params;
    element.resize(np + n);
    for (int e = 0; e < g.ne; ++e, in += g.type->num_local_params, p += np) {
      g.types[e]->prepare(in, nullptr, element.data());
      std::copy(element.data(), element.data() + np, p);
      if (w) std::copy(element.data() + np, element.data() + np + n, w + g.unknown_offset + e * n);
    }
  }
}

// How the kernel fills a lane's local inputs (local_input_size) itself
// (dojax.native.kernel._gather_plan): base, with base[dst[k]] = the src[k]-th value of the lane's
// sources followed by its mechanism's parameters.
struct GatherPlan {
  ffi::Span<const double> base;
  ffi::Span<const int64_t> dst, src;

  // Whether the plan fits the structure's local inputs and S sources and Q parameters per lane.
  bool fits(const Structure& st, size_t S, size_t Q) const {
    const size_t L = local_input_size(st);
    if (base.size() != L || dst.size() != src.size()) return false;
    for (size_t k = 0; k < dst.size(); ++k)
      if (dst[k] < 0 || static_cast<size_t>(dst[k]) >= L || src[k] < 0 || static_cast<size_t>(src[k]) >= S + Q)
        return false;
    return true;
  }

  // One lane's local inputs from its sources (S of them) and parameters.
  void gather(const double* sources, size_t S, const double* parameters, std::vector<double>& local) const {
    local.assign(base.begin(), base.end());
    for (size_t k = 0; k < dst.size(); ++k) {
      const size_t j = static_cast<size_t>(src[k]);
      local[dst[k]] = j < S ? sources[j] : parameters[j - S];
    }
  }
};

// The lanes' sources and parameters (lanes x S and lanes x Q) and the plan that gathers their local
// inputs from them, checked against the structure; the sources' and parameters' counts per lane.
ffi::Error check_gathered(const Structure& st, const ffi::Buffer<ffi::F64>& sources,
                          const ffi::Buffer<ffi::F64>& parameters, size_t lanes, const GatherPlan& plan, size_t& S,
                          size_t& Q) {
  S = sources.element_count() / lanes;
  Q = parameters.element_count() / lanes;
  if (sources.element_count() != lanes * S || parameters.element_count() != lanes * Q)
    return ffi::Error::InvalidArgument("dojax kernel: sources or parameters do not match the batch");
  if (!plan.fits(st, S, Q))
    return ffi::Error::InvalidArgument("dojax kernel: the gather plan does not match the structure or its buffers");
  return ffi::Error::Success();
}

// The step from its terms' local inputs, which the kernel gathers itself (GatherPlan): the
// problem's parameters by prepare and its starting unknowns W0, or without them (null) prepare's
// too; then the iterations as in step_solve.
ffi::Error solve_local(ffi::Buffer<ffi::F64> sources, ffi::Buffer<ffi::F64> parameters, const double* W0,
                       size_t W0_count, ffi::Buffer<ffi::F64> options, ffi::ResultBuffer<ffi::F64> W,
                       ffi::ResultBuffer<ffi::F64> info, ffi::Span<const int64_t> structure,
                       ffi::Span<const double> base, ffi::Span<const int64_t> dst, ffi::Span<const int64_t> src,
                       int64_t max_iter, int64_t max_ls, int64_t verbose) {
  Structure st;
  if (!parse_structure(structure, st)) return ffi::Error::InvalidArgument("dojax kernel: malformed structure");
  const size_t P = st.num_params, N = st.num_unknowns;
  if (W->element_count() % N != 0) return ffi::Error::InvalidArgument("dojax kernel: output size mismatch");
  const size_t batch = W->element_count() / N;
  if (batch == 0) return ffi::Error::Success();
  if (options.element_count() != batch * 6 || (W0 && W0_count != batch * N))
    return ffi::Error::InvalidArgument("dojax kernel: buffer sizes do not match the structure");
  const GatherPlan plan{base, dst, src};
  size_t S, Q;
  if (ffi::Error error = check_gathered(st, sources, parameters, batch, plan, S, Q); error.failure()) return error;
#pragma omp parallel for schedule(dynamic) if (batch > 1)
  for (size_t lane = 0; lane < batch; ++lane) {
    std::vector<double> local, params(P);
    plan.gather(sources.typed_data() + lane * S, S, parameters.typed_data() + lane * Q, local);
    double* w = W->typed_data() + lane * N;
    prepare(st, local.data(), params.data(), W0 ? nullptr : w);
    if (W0) std::copy(W0 + lane * N, W0 + (lane + 1) * N, w);
    solve_lane(st, params.data(), options.typed_data() + lane * 6, max_iter, max_ls, verbose, w,
               info->typed_data() + lane * 5);
  }
  return ffi::Error::Success();
}

ffi::Error step_solve_local(ffi::Buffer<ffi::F64> sources, ffi::Buffer<ffi::F64> parameters,
                            ffi::Buffer<ffi::F64> options, ffi::ResultBuffer<ffi::F64> W,
                            ffi::ResultBuffer<ffi::F64> info, ffi::Span<const int64_t> structure,
                            ffi::Span<const double> base, ffi::Span<const int64_t> dst, ffi::Span<const int64_t> src,
                            int64_t max_iter, int64_t max_ls, int64_t verbose) {
  return solve_local(sources, parameters, nullptr, 0, options, W, info, structure, base, dst, src, max_iter, max_ls,
                     verbose);
}

// The step from its local inputs again, from the unknowns W0 (the derivative's re-centring).
ffi::Error step_resolve_local(ffi::Buffer<ffi::F64> sources, ffi::Buffer<ffi::F64> parameters,
                              ffi::Buffer<ffi::F64> W0, ffi::Buffer<ffi::F64> options, ffi::ResultBuffer<ffi::F64> W,
                              ffi::ResultBuffer<ffi::F64> info, ffi::Span<const int64_t> structure,
                              ffi::Span<const double> base, ffi::Span<const int64_t> dst,
                              ffi::Span<const int64_t> src, int64_t max_iter, int64_t max_ls, int64_t verbose) {
  return solve_local(sources, parameters, W0.typed_data(), W0.element_count(), options, W, info, structure, base, dst,
                     src, max_iter, max_ls, verbose);
}

// Newton steps dW = -(d residual / d W)^-1 R at W for many right-hand sides R: the linear solve of
// the implicit-function derivative (dojax.residual.linearize and newton_step), for a Jacobian's
// columns, on the problem that prepare evaluates from the step's local inputs, which the kernel
// gathers (GatherPlan) from the sources and parameters. The leading dimensions of sources,
// parameters, W and R broadcast (vmap's "expand_dims": an argument not batched along a dimension
// has size 1 there), and the matrix is factorised once per (sources, parameters, W) lane that
// consecutive right-hand sides share. With transpose, the transposed map
// -(d residual / d W)^-T G with the same factorisation (reverse mode). Entries that a non-finite
// factorisation leaves non-finite are zero.
ffi::Error linear_solve(ffi::Buffer<ffi::F64> sources, ffi::Buffer<ffi::F64> parameters, ffi::Buffer<ffi::F64> W,
                        ffi::Buffer<ffi::F64> R, ffi::ResultBuffer<ffi::F64> dW, ffi::Span<const int64_t> structure,
                        ffi::Span<const double> base, ffi::Span<const int64_t> dst, ffi::Span<const int64_t> src,
                        int64_t transpose) {
  Structure st;
  if (!parse_structure(structure, st)) return ffi::Error::InvalidArgument("dojax kernel: malformed structure");
  const auto out = dW->dimensions();
  const size_t rank = out.size();
  const ffi::Span<const int64_t> dims[4] = {sources.dimensions(), parameters.dimensions(), W.dimensions(),
                                            R.dimensions()};
  for (const auto& d : dims)
    if (d.size() != rank) return ffi::Error::InvalidArgument("dojax kernel: linear solve buffers differ in rank");
  if (rank < 1 || out[rank - 1] != st.num_unknowns || dims[2][rank - 1] != st.num_unknowns ||
      dims[3][rank - 1] != st.num_unknowns)
    return ffi::Error::InvalidArgument("dojax kernel: linear solve buffers do not match the structure");
  // strides (in lanes) of each argument along the output's leading dimensions; 0 where broadcast
  std::vector<int64_t> strides[4];
  int64_t counts[4] = {1, 1, 1, 1}, total = 1;
  for (auto& stride : strides) stride.assign(rank, 0);
  for (int d = static_cast<int>(rank) - 2; d >= 0; --d) {
    for (int a = 0; a < 4; ++a) {
      if (dims[a][d] != 1 && dims[a][d] != out[d])
        return ffi::Error::InvalidArgument("dojax kernel: linear solve batch dimensions do not broadcast");
      strides[a][d] = dims[a][d] == 1 ? 0 : counts[a];
      counts[a] *= dims[a][d];
    }
    total *= out[d];
  }
  const size_t S = static_cast<size_t>(dims[0][rank - 1]), Q = static_cast<size_t>(dims[1][rank - 1]);
  const GatherPlan plan{base, dst, src};
  if (!plan.fits(st, S, Q))
    return ffi::Error::InvalidArgument("dojax kernel: the gather plan does not match the structure or its buffers");
  const size_t N = st.num_unknowns;
#pragma omp parallel if (total > 1)
  {
    std::vector<double> local, params(st.num_params);
    std::optional<Solver> held;  // the factorisation of the current (sources, parameters, W) lane
    int64_t current = -1;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < total; ++i) {
      int64_t rest = i, at[4] = {0, 0, 0, 0};
      for (int d = static_cast<int>(rank) - 2; d >= 0; --d) {
        const int64_t k = rest % out[d];
        rest /= out[d];
        for (int a = 0; a < 4; ++a) at[a] += k * strides[a][d];
      }
      const int64_t key = (at[0] * counts[1] + at[1]) * counts[2] + at[2];
      if (key != current) {
        plan.gather(sources.typed_data() + at[0] * S, S, parameters.typed_data() + at[1] * Q, local);
        prepare(st, local.data(), params.data(), nullptr);
        held.emplace(st, params.data());
        held->linearize(W.typed_data() + at[2] * N);
        current = key;
      }
      if (transpose)
        held->newton_step_transposed(R.typed_data() + at[3] * N, dW->typed_data() + i * N);
      else
        held->newton_step(R.typed_data() + at[3] * N, dW->typed_data() + i * N);
      zero_non_finite(dW->typed_data() + i * N, static_cast<int64_t>(N));
    }
  }
  return ffi::Error::Success();
}

// Calls solve(solver, local, lane) for each lane of a batch, with the lane's local inputs (local,
// gathered by plan from its S sources and Q parameters) and the Newton matrix factorised at its
// unknowns (W (lanes, N)) on the problem that prepare evaluates from them, in parallel over the
// lanes.
template <class Solve>
void for_each_factorised_lane(const Structure& st, const GatherPlan& plan, const double* sources, size_t S,
                              const double* parameters, size_t Q, const double* W, int64_t lanes, Solve solve) {
#pragma omp parallel for schedule(static) if (lanes > 1)
  for (int64_t lane = 0; lane < lanes; ++lane) {
    std::vector<double> local, params(st.num_params);
    plan.gather(sources + lane * S, S, parameters + lane * Q, local);
    prepare(st, local.data(), params.data(), nullptr);
    Solver solver(st, params.data());
    solver.linearize(W + lane * st.num_unknowns);
    solve(solver, local, lane);
  }
}

// The Newton step's solve for many right-hand sides at one point: dW = -(d residual / d W)^-1 R
// with R and dW (..., N, C), the C right-hand sides as columns; one factorisation per lane of the
// leading dimensions (sources, parameters and W alike). Entries that a non-finite factorisation
// leaves non-finite are zero.
ffi::Error columns_solve(ffi::Buffer<ffi::F64> sources, ffi::Buffer<ffi::F64> parameters, ffi::Buffer<ffi::F64> W,
                         ffi::Buffer<ffi::F64> R, ffi::ResultBuffer<ffi::F64> dW, ffi::Span<const int64_t> structure,
                         ffi::Span<const double> base, ffi::Span<const int64_t> dst, ffi::Span<const int64_t> src) {
  Structure st;
  if (!parse_structure(structure, st)) return ffi::Error::InvalidArgument("dojax kernel: malformed structure");
  const auto rd = R.dimensions();
  const size_t rank = rd.size();
  if (rank < 2 || rd[rank - 2] != st.num_unknowns || W.element_count() % st.num_unknowns != 0)
    return ffi::Error::InvalidArgument("dojax kernel: columns solve buffers do not match the structure");
  const int64_t C = rd[rank - 1], N = st.num_unknowns, lanes = R.element_count() / (N * C);
  if (lanes == 0) return ffi::Error::Success();
  if (static_cast<int64_t>(W.element_count()) / N != lanes)
    return ffi::Error::InvalidArgument("dojax kernel: columns solve batch dimensions differ");
  const GatherPlan plan{base, dst, src};
  size_t S, Q;
  if (ffi::Error error = check_gathered(st, sources, parameters, lanes, plan, S, Q); error.failure()) return error;
  for_each_factorised_lane(st, plan, sources.typed_data(), S, parameters.typed_data(), Q, W.typed_data(), lanes,
                           [&](Solver& solver, const std::vector<double>&, int64_t lane) {
                             solver.newton_step_columns(R.typed_data() + lane * N * C, dW->typed_data() + lane * N * C,
                                                        static_cast<int>(C));
                             zero_non_finite(dW->typed_data() + lane * N * C, N * C);
                           });
  return ffi::Error::Success();
}

// The size of one lane's local Jacobians (dojax.residual.LocalJacobians, laid out as local_jacobians
// writes them).
size_t local_jacobian_size(const Structure& st) {
  size_t O = st.nb * 6 * 12 + st.nj * 18 * 32;
  for (const Group& g : st.groups) O += g.ne * (g.type->size + 12) * 14;
  return O;
}

// One lane's local Jacobians at its unknowns w from its local inputs: each body's (6 x 12), joint's
// (18 x 32), contact's and limit's ((n + 12) x 14), in that order, row by row.
void lane_local_jacobians(const Structure& st, const double* p, const double* w, double* out) {
  const int nb = st.nb, nj = st.nj;
  for (int i = 0; i < nb; ++i, p += BODY_PARAMS, out += 6 * 12) body_local(p, w + 6 * i, out);
  for (int j0 = 0; j0 < nj; j0 += 4) {  // the joints four at a time
    const int count = std::min(4, nj - j0);
    double in[4][18];
    const double* ps[4] = {};
    const double* us[4] = {};
    double* outs[4] = {};
    for (int k = 0; k < count; ++k) {
      const int j = j0 + k;
      term_velocities(w, nb, st.parent[j], st.child[j], in[k]);
      std::memcpy(in[k] + 12, w + st.lam_offset() + 6 * j, 6 * sizeof(double));
      ps[k] = p + j * JOINT_LOCAL_PARAMS;
      us[k] = in[k];
      outs[k] = out + j * 18 * 32;
    }
    evaluate_terms(count, joint_local, joint_local4, ps, us, outs);
  }
  p += nj * JOINT_LOCAL_PARAMS;
  out += nj * 18 * 32;
  double u[12 + kMaxElement];
  for (const Group& g : st.groups) {
    const int n = g.type->size;
    for (int e = 0; e < g.ne; ++e, p += g.type->num_local_params, out += (n + 12) * 14) {
      term_velocities(w, nb, g.a[e], g.b[e], u);
      std::memcpy(u + 12, w + g.unknown_offset + e * n, n * sizeof(double));
      g.types[e]->local(p, u, out);
    }
  }
}

// The step Jacobian's right-hand sides, the residual's Jacobian with respect to the state's tangent
// and the action, as blocks (dojax.residual.column_blocks, whose definition this follows): from one
// lane's local Jacobians (jac) and charts (dojax.residual.Charts: pose (nb + 1) x 13 x 12, wrench
// nb x 6 x 3, wrench_action nb x 6 x nu, input_action nj x 6 x nu), the rows of 12 tangent columns
// of one body each (data, rows, bodies) and the bodies' and joints' rows of the action's columns
// (action, (6 nb + 6 nj) x nu).
struct ColumnBlocks {
  std::vector<double> data, action;
  std::vector<int64_t> rows, bodies;

  // rows r0..r1 of a block (leading dimension 12) at packed rows first.., in body's columns
  void add(const double* block, int r0, int r1, int64_t first, int body) {
    data.insert(data.end(), block + 12 * r0, block + 12 * r1);
    for (int r = r0; r < r1; ++r) {
      rows.push_back(first + r - r0);
      bodies.push_back(body);
    }
  }
};

// C (m x 12) = A (m x K, leading dimension lda) times rows k0 .. k0 + K - 1 of a body's pose chart
// (13 x 12: its d(x, q, v, w) / d dz). The chart's entries lie in four blocks (those of
// dojax.residual._pose_chart, and so of its tangents too): x's rows 0-2 in columns 0-2, q's rows
// 3-6 in columns 6-8, v's rows 7-9 in columns 3-5 and w's rows 10-12 in columns 9-11 (identities
// but for q's); its other entries are not read. The rows run over whole parts: k0 is 0 or 7 and
// k0 + K is 7 or 13; the columns of parts outside them are zero.
void chart_product(const double* A, int lda, int m, const double* chart, int k0, int K, double* C) {
  double X[3][3], Q[4][3], V[3][3], Wr[3][3];
  for (int b = 0; b < 3; ++b) {
    for (int a = 0; a < 3; ++a) {
      X[a][b] = chart[a * 12 + b];
      V[a][b] = chart[(7 + a) * 12 + 3 + b];
      Wr[a][b] = chart[(10 + a) * 12 + 9 + b];
    }
    for (int a = 0; a < 4; ++a) Q[a][b] = chart[(3 + a) * 12 + 6 + b];
  }
  const bool pose = k0 == 0, rates = k0 + K == 13;
  for (int r = 0; r < m; ++r) {
    const double* a = A + r * lda - k0;  // a[k]: A's entry for chart row k
    double* c = C + 12 * r;
    for (int b = 0; b < 3; ++b) {
      c[b] = pose ? a[0] * X[0][b] + a[1] * X[1][b] + a[2] * X[2][b] : 0.0;
      c[6 + b] = pose ? a[3] * Q[0][b] + a[4] * Q[1][b] + a[5] * Q[2][b] + a[6] * Q[3][b] : 0.0;
      c[3 + b] = rates ? a[7] * V[0][b] + a[8] * V[1][b] + a[9] * V[2][b] : 0.0;
      c[9 + b] = rates ? a[10] * Wr[0][b] + a[11] * Wr[1][b] + a[12] * Wr[2][b] : 0.0;
    }
  }
}

ColumnBlocks column_blocks(const Structure& st, const double* jac, const double* pose, const double* wrench,
                           const double* wrench_action, const double* input_action, int nu) {
  const int nb = st.nb, nj = st.nj;
  size_t rows = 6 * nb + 2 * 18 * nj;
  for (const Group& g : st.groups) rows += 2 * (g.type->size + 12) * g.ne;
  ColumnBlocks out;
  out.data.reserve(12 * rows);
  out.rows.reserve(rows);
  out.bodies.reserve(rows);
  out.action.assign(6 * (nb + nj) * nu, 0.0);
  const auto chart = [&](int body, const double* A, int lda, int m, int k0, int K, double* C) {
    chart_product(A, lda, m, pose + 13 * 12 * body, k0, K, C);
  };
  double blk[(kMaxElement + 12) * 12], A[18 * 13];
  for (int i = 0; i < nb; ++i, jac += 6 * 12) {
    // [V15, wrench] of body i: its velocities' chart, and its own rotation's through the wrench
    chart(i, jac, 12, 6, 7, 6, blk);
    mm<6, 6, 3>(jac + 6, 12, wrench + 18 * i, 3, blk + 6, 12, 1.0, true);
    out.add(blk, 0, 6, 6 * i, i);
    matmul(jac + 6, 12, wrench_action + 6 * nu * i, nu, &out.action[6 * i * nu], nu, 6, 6, nu, 1.0, true);
  }
  std::vector<double> inputs(18 * nu);
  for (int j = 0; j < nj; ++j, jac += 18 * 32) {
    const int p = st.parent[j], c = st.child[j];
    for (int side = 0; side < 2; ++side) {  // [xp, qp, xc, qc, Vp15, Vc15, inputs]: the parent's, the child's
      const int body = side ? c : p;
      if (body == nb) continue;
      for (int r = 0; r < 18; ++r) {
        std::copy(jac + 32 * r + 7 * side, jac + 32 * r + 7 * side + 7, A + 13 * r);
        std::copy(jac + 32 * r + 14 + 6 * side, jac + 32 * r + 20 + 6 * side, A + 13 * r + 7);
      }
      chart(body, A, 13, 18, 0, 13, blk);
      if (p != nb) out.add(blk, 0, 6, 6 * p, body);
      out.add(blk, 6, 12, 6 * c, body);
      out.add(blk, 12, 18, 6 * nb + 6 * j, body);
    }
    matmul(jac + 26, 32, input_action + 6 * nu * j, nu, inputs.data(), nu, 18, 6, nu);
    const int at[3] = {p == nb ? -1 : p, c, nb + j};  // the world has no rows
    for (int k = 0; k < 3; ++k)
      if (at[k] >= 0)
        for (int t = 0; t < 6 * nu; ++t) out.action[6 * at[k] * nu + t] += inputs[6 * nu * k + t];
  }
  for (const Group& g : st.groups) {
    const int n = g.type->size;
    for (int e = 0; e < g.ne; ++e, jac += (n + 12) * 14) {
      const int a = g.a[e], b = g.b[e];
      for (int side = 0; side < 2; ++side) {  // [xa, qa, xb, qb]
        const int body = side ? b : a;
        if (body == nb) continue;
        chart(body, jac + 7 * side, 14, n + 12, 0, 7, blk);
        out.add(blk, 0, n, g.unknown_offset + e * n, body);
        if (a != nb) out.add(blk, n, n + 6, 6 * a, body);
        if (b != nb) out.add(blk, n + 6, n + 12, 6 * b, body);
      }
    }
  }
  return out;
}

// The velocities' rows (..., 6 nb, 12 nb + nu) of the step Jacobian's solve, -(d residual / d W)^-1 R,
// for R the residual's Jacobian with respect to the state's tangent and the action: per lane, the
// local Jacobians at W and the blocks of R from them and the lane's charts (pose, wrench,
// wrench_action, input_action: dojax.residual.Charts), and one factorisation, all of the problem
// that prepare evaluates from the step's local inputs. Entries that a non-finite factorisation
// leaves non-finite are zero.
ffi::Error jacobian_columns(ffi::Buffer<ffi::F64> sources, ffi::Buffer<ffi::F64> parameters, ffi::Buffer<ffi::F64> W,
                            ffi::Buffer<ffi::F64> pose, ffi::Buffer<ffi::F64> wrench,
                            ffi::Buffer<ffi::F64> wrench_action, ffi::Buffer<ffi::F64> input_action,
                            ffi::ResultBuffer<ffi::F64> dV, ffi::Span<const int64_t> structure,
                            ffi::Span<const double> base, ffi::Span<const int64_t> dst, ffi::Span<const int64_t> src) {
  Structure st;
  if (!parse_structure(structure, st)) return ffi::Error::InvalidArgument("dojax kernel: malformed structure");
  const int64_t N = st.num_unknowns, lanes = W.element_count() / N, nb = st.nb;
  const auto ad = wrench_action.dimensions();
  const int64_t nu = ad[ad.size() - 1];
  auto is = [lanes](const auto& buffer, int64_t size) {
    return buffer.element_count() == static_cast<size_t>(lanes * size);
  };
  if (static_cast<int64_t>(W.element_count()) % N != 0 || !is(pose, (nb + 1) * 13 * 12) || !is(wrench, nb * 6 * 3) ||
      !is(wrench_action, nb * 6 * nu) || !is(input_action, st.nj * 6 * nu) || !is(*dV, 6 * nb * (12 * nb + nu)))
    return ffi::Error::InvalidArgument("dojax kernel: the step Jacobian's charts do not match the structure");
  if (lanes == 0) return ffi::Error::Success();
  const GatherPlan plan{base, dst, src};
  size_t S, Q;
  if (ffi::Error error = check_gathered(st, sources, parameters, lanes, plan, S, Q); error.failure()) return error;
  const size_t O = local_jacobian_size(st);
  for_each_factorised_lane(st, plan, sources.typed_data(), S, parameters.typed_data(), Q, W.typed_data(), lanes,
                           [&](Solver& solver, const std::vector<double>& local, int64_t lane) {
    std::unique_ptr<double[]> jac(new double[O]);  // (lane_local_jacobians writes every entry)
    lane_local_jacobians(st, local.data(), W.typed_data() + lane * N, jac.get());
    const ColumnBlocks R = column_blocks(st, jac.get(), pose.typed_data() + lane * (nb + 1) * 13 * 12,
                                         wrench.typed_data() + lane * nb * 18,
                                         wrench_action.typed_data() + lane * nb * 6 * nu,
                                         input_action.typed_data() + lane * st.nj * 6 * nu, static_cast<int>(nu));
    double* out = dV->typed_data() + lane * 6 * nb * (12 * nb + nu);
    solver.jacobian_columns(R.data.data(), R.rows.data(), R.bodies.data(), static_cast<int64_t>(R.rows.size()),
                            R.action.data(), static_cast<int>(nu), out);
    zero_non_finite(out, 6 * nb * (12 * nb + nu));
  });
  return ffi::Error::Success();
}

// Each body's, joint's, contact's and limit's Jacobian with respect to its local inputs at W
// (dojax.residual.LocalJacobians, as lane_local_jacobians lays them out), from the local inputs
// that the kernel gathers (GatherPlan) from the step's sources and parameters. Lanes of a batch
// are independent.
ffi::Error local_jacobians(ffi::Buffer<ffi::F64> sources, ffi::Buffer<ffi::F64> parameters, ffi::Buffer<ffi::F64> W,
                           ffi::ResultBuffer<ffi::F64> jac, ffi::Span<const int64_t> structure,
                           ffi::Span<const double> base, ffi::Span<const int64_t> dst, ffi::Span<const int64_t> src) {
  Structure st;
  if (!parse_structure(structure, st)) return ffi::Error::InvalidArgument("dojax kernel: malformed structure");
  const size_t O = local_jacobian_size(st), N = st.num_unknowns;
  if (W.element_count() % N != 0) return ffi::Error::InvalidArgument("dojax kernel: input size mismatch");
  const size_t batch = W.element_count() / N;
  if (jac->element_count() != batch * O)
    return ffi::Error::InvalidArgument("dojax kernel: buffer sizes do not match the structure");
  if (batch == 0) return ffi::Error::Success();
  const GatherPlan plan{base, dst, src};
  size_t S, Q;
  if (ffi::Error error = check_gathered(st, sources, parameters, batch, plan, S, Q); error.failure()) return error;
#pragma omp parallel for schedule(dynamic) if (batch > 1)
  for (size_t lane = 0; lane < batch; ++lane) {
    std::vector<double> local;
    plan.gather(sources.typed_data() + lane * S, S, parameters.typed_data() + lane * Q, local);
    lane_local_jacobians(st, local.data(), W.typed_data() + lane * N, jac->typed_data() + lane * O);
  }
  return ffi::Error::Success();
}

// dojax.minimal.to_minimal: every tree joint's row of the minimal table (its coordinates and their
// rates, the generated joint_minimal) from its parameters and its parent's and child's x, q, v, w
// (the world, parent nb: at the origin, at rest), then the table's entries index selects. A lane's
// state is x, q, v, w of its nb bodies (13 nb values), its joints' parameters nb rows of
// JOINT_MINIMAL_PARAMS. Lanes of a batch are independent.
ffi::Error minimal(ffi::Buffer<ffi::F64> state, ffi::Buffer<ffi::F64> joints, ffi::ResultBuffer<ffi::F64> out,
                   ffi::Span<const int64_t> parent, ffi::Span<const int64_t> child, ffi::Span<const int64_t> index) {
  const size_t nb = parent.size(), S = 13 * nb, J = nb * JOINT_MINIMAL_PARAMS, M = index.size();
  if (nb == 0 || child.size() != nb) return ffi::Error::InvalidArgument("dojax kernel: malformed joints");
  for (size_t k = 0; k < nb; ++k)
    if (parent[k] < 0 || static_cast<size_t>(parent[k]) > nb || child[k] < 0 || static_cast<size_t>(child[k]) >= nb)
      return ffi::Error::InvalidArgument("dojax kernel: malformed joints");
  for (const int64_t i : index)
    if (i < 0 || static_cast<size_t>(i) >= 12 * nb) return ffi::Error::InvalidArgument("dojax kernel: malformed index");
  const size_t batch = state.element_count() / S;
  if (state.element_count() != batch * S || joints.element_count() != batch * J || out->element_count() != batch * M)
    return ffi::Error::InvalidArgument("dojax kernel: buffer sizes do not match the joints");
#pragma omp parallel for schedule(static) if (batch > 1)
  for (size_t lane = 0; lane < batch; ++lane) {
    const double* s = state.typed_data() + lane * S;
    std::vector<double> table(12 * nb);
    for (size_t k = 0; k < nb; ++k) {
      // u: the parent's x, q, v, w, then the child's
      double u[26] = {0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
      const size_t bodies[2] = {static_cast<size_t>(parent[k]), static_cast<size_t>(child[k])};
      for (int side = 0; side < 2; ++side) {
        const size_t b = bodies[side];
        if (b == nb) continue;
        double* ub = u + 13 * side;
        std::copy(s + 3 * b, s + 3 * b + 3, ub);
        std::copy(s + 3 * nb + 4 * b, s + 3 * nb + 4 * b + 4, ub + 3);
        std::copy(s + 7 * nb + 3 * b, s + 7 * nb + 3 * b + 3, ub + 7);
        std::copy(s + 10 * nb + 3 * b, s + 10 * nb + 3 * b + 3, ub + 10);
      }
      joint_minimal(joints.typed_data() + lane * J + k * JOINT_MINIMAL_PARAMS, u, table.data() + 12 * k);
    }
    double* o = out->typed_data() + lane * M;
    for (size_t i = 0; i < M; ++i) o[i] = table[index[i]];
  }
  return ffi::Error::Success();
}

}  // namespace

namespace {
// A binding's operands, then n >= 1 float64 buffers more (a binding moves only into its next).
template <int n, class Binding>
constexpr auto buffers(Binding&& binding) {
  if constexpr (n == 1)
    return std::move(binding).template Arg<ffi::Buffer<ffi::F64>>();
  else
    return buffers<n - 1>(std::move(binding).template Arg<ffi::Buffer<ffi::F64>>());
}

// A derivative's handler on gathered local inputs: (sources, parameters, its n other operands) ->
// one result, with the structure and the gather plan.
template <int n>
constexpr auto gathered_derivative() {
  return buffers<n + 2>(ffi::Ffi::Bind())
      .template Ret<ffi::Buffer<ffi::F64>>()
      .template Attr<ffi::Span<const int64_t>>("structure")
      .template Attr<ffi::Span<const double>>("base")
      .template Attr<ffi::Span<const int64_t>>("dst")
      .template Attr<ffi::Span<const int64_t>>("src");
}

// The step handler's results (unknowns, info) and the iterations' attributes, after its inputs.
constexpr auto solve_results = [](auto inputs) {
  return std::move(inputs)
      .template Ret<ffi::Buffer<ffi::F64>>()
      .template Ret<ffi::Buffer<ffi::F64>>()
      .template Attr<ffi::Span<const int64_t>>("structure")
      .template Attr<int64_t>("max_iter")
      .template Attr<int64_t>("max_ls")
      .template Attr<int64_t>("verbose");
};
// The steps from gathered local inputs (solve_local): their results, the structure, the gather
// plan and the iterations' attributes, after their inputs.
constexpr auto gathered_results = [](auto inputs) {
  return std::move(inputs)
      .template Ret<ffi::Buffer<ffi::F64>>()
      .template Ret<ffi::Buffer<ffi::F64>>()
      .template Attr<ffi::Span<const int64_t>>("structure")
      .template Attr<ffi::Span<const double>>("base")
      .template Attr<ffi::Span<const int64_t>>("dst")
      .template Attr<ffi::Span<const int64_t>>("src")
      .template Attr<int64_t>("max_iter")
      .template Attr<int64_t>("max_ls")
      .template Attr<int64_t>("verbose");
};
}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxStepSolve, step_solve,
                              solve_results(ffi::Ffi::Bind()
                                                .Arg<ffi::Buffer<ffi::F64>>()
                                                .Arg<ffi::Buffer<ffi::F64>>()
                                                .Arg<ffi::Buffer<ffi::F64>>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxStepSolveLocal, step_solve_local,
                              gathered_results(ffi::Ffi::Bind()
                                                   .Arg<ffi::Buffer<ffi::F64>>()
                                                   .Arg<ffi::Buffer<ffi::F64>>()
                                                   .Arg<ffi::Buffer<ffi::F64>>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxStepResolveLocal, step_resolve_local,
                              gathered_results(ffi::Ffi::Bind()
                                                   .Arg<ffi::Buffer<ffi::F64>>()
                                                   .Arg<ffi::Buffer<ffi::F64>>()
                                                   .Arg<ffi::Buffer<ffi::F64>>()
                                                   .Arg<ffi::Buffer<ffi::F64>>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxLocalJacobians, local_jacobians, gathered_derivative<1>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxColumnsSolve, columns_solve, gathered_derivative<2>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxJacobianColumns, jacobian_columns, gathered_derivative<5>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxLinearSolve, linear_solve, gathered_derivative<2>().Attr<int64_t>("transpose"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(DojaxMinimal, minimal,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Attr<ffi::Span<const int64_t>>("parent")
                                  .Attr<ffi::Span<const int64_t>>("child")
                                  .Attr<ffi::Span<const int64_t>>("index"));
