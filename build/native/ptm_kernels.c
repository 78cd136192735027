/*
 * Fused CPU kernels for the pieces of a GPT training step that libtorch's eager operators run far below the
 * machine's speed at small shapes (docs/performance.md, "Fused kernels"):
 *
 *   - GELU with the tanh approximation, forward and backward, one pass over memory each;
 *   - causal multi-head self-attention on GPT-2's packed projection (B, T, 3C) [q | k | v], forward and backward,
 *     reading the heads in place and writing (B, T, C) / (B, T, 3C) directly, so no split or merge copies;
 *   - cross-entropy of logits against class ids: one read of the logits forward (each row's log-sum-exp kept), one
 *     read and one write backward, where libtorch's log_softmax + nll_loss make three passes and a zero fill.
 *
 * One source, compiled once per instruction set into one library (build/native/TorchSharpNative.targets):
 *
 *   -DPTM_ISA_AVX512   16-float vectors, AVX-512F/DQ/BW/VL + FMA, exported as ptm_avx512_*;
 *   -DPTM_ISA_AVX2     8-float vectors, AVX2 + FMA, exported as ptm_avx2_*;
 *   -DPTM_ISA_PORTABLE 4-float vectors, baseline x86-64 (SSE2, no FMA), exported as ptm_portable_*.
 *
 * The products inside a head use GCC vector extensions of that width (register tiles of 4 rows × NV vectors); the
 * element-wise loops are plain C under `omp simd`, which the compiler vectorises for the target; only the 16 × 16
 * transpose has an AVX-512 form with a portable fallback. Which variant runs is chosen at run time by the C# side
 * (Ptm.Kernels.FusedKernels, from CpuFeatures): a variant is only ever called on a CPU that can execute it.
 *
 * Float32 only, contiguous inputs. Threads come from libtorch's own OpenMP runtime (this library links its bundled
 * libgomp), so the two never compete for the cores.
 *
 * Numerics. GELU: 0.5·x·(1 + tanh(u)) = x·σ(2u) with u = √(2/π)(x + 0.044715x³); the σ form has no cancellation
 * near tanh(u) = -1, and exp is evaluated to about 1 ulp (Cody-Waite reduction, degree-7 Taylor polynomial).
 * Attention: softmax with the row maximum subtracted, probabilities kept for the backward pass (B, nh, T, Tp) with
 * Tp = T rounded up to 16 and zeros above the diagonal. The variants round differently (FMA or not, vector widths in
 * the sums), so their results agree to float32 rounding, not bit for bit.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(PTM_ISA_AVX512)
#include <immintrin.h>
#define W 16                  /* floats per vector */
#define TILE_NV 4             /* vectors per tile row: 4 × 4 accumulators of 32 registers */
#define EXPORT(name) ptm_avx512_##name
#elif defined(PTM_ISA_AVX2)
#define W 8
#define TILE_NV 2             /* 4 × 2 accumulators, two B vectors and a broadcast of 16 registers */
#define EXPORT(name) ptm_avx2_##name
#elif defined(PTM_ISA_PORTABLE)
#define W 4
#define TILE_NV 2
#define EXPORT(name) ptm_portable_##name
#else
#error "define one of PTM_ISA_AVX512, PTM_ISA_AVX2, PTM_ISA_PORTABLE"
#endif

typedef float vf __attribute__((vector_size(W * sizeof(float))));

static inline vf vload(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vbroadcast(float a) { return (vf){0} + a; }

/* ---------------------------------------------------------------------------------------------------------------- */
/* GELU                                                                                                             */

static inline float exp_approx(float a)
{
    /* e^a = 2^n · e^r, r = a - n·ln2 in [-ln2/2, ln2/2]; inputs clamped so 2^n stays a normal float. */
    a = a > -87.0f ? a : -87.0f;                         /* maxps / minps: one instruction each on every target */
    a = a < 88.0f ? a : 88.0f;
    const float magic = 12582912.0f;                     /* 1.5·2^23: adding it rounds to an integer */
    float n = (a * 1.44269504088896341f + magic) - magic;
    float r = a - n * 0.693145751953125f;                /* ln 2, high part (exact in float) */
    r = r - n * 1.42860682030941723e-06f;                /* ln 2, low part */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/*
 * Row i of the scores, s[0..Tp): softmax of scale·s over columns 0..i, zero after. The maximum is subtracted
 * before exponentiating, as every softmax does, so no column overflows.
 */
static void causal_softmax_row(float *s, long i, long Tp, float scale)
{
    const long n = i + 1;
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (long j = 0; j < n; j++) {
        float v = s[j] * scale;
        s[j] = v;
        mx = v > mx ? v : mx;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (long j = 0; j < n; j++) {
        float e = exp_approx(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (long j = 0; j < n; j++) s[j] *= inv;
    memset(s + n, 0, (size_t)(Tp - n) * sizeof(float));
}

/* Σ_d a[d]·b[d] over n floats. */
static inline float dot(const float *a, const float *b, long n)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (long d = 0; d < n; d++) acc += a[d] * b[d];
    return acc;
}

#define GELU_K0 0.7978845608028654f   /* √(2/π) */
#define GELU_K1 0.044715f

static void gelu_forward_range(const float *x, float *y, long n)
{
#pragma omp simd
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K0 * (v + GELU_K1 * v * v * v);
        y[i] = v * (1.0f / (1.0f + exp_approx(-2.0f * u)));
    }
}

static void gelu_backward_range(const float *x, const float *dy, float *dx, long n)
{
#pragma omp simd
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = GELU_K0 * (v + GELU_K1 * v * v * v);
        float t = exp_approx(-2.0f * u);
        float s = 1.0f / (1.0f + t);                                       /* σ(2u) = (1 + tanh u) / 2 */
        float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * v * v);
        /* d/dx x·σ(2u) = σ + x·2σ(1 − σ)·u', with σ(1 − σ) = t·σ² (no cancellation where σ is near 1) */
        float ds = (t * s) * s;                                            /* t·s first: t alone may be 1e38 */
        dx[i] = dy[i] * (s + 2.0f * v * du * ds);
    }
}

/* Splits [0, n) into per-thread ranges of whole cache lines. */
#define PARALLEL_RANGES(n, threads, body)                                                                  \
    _Pragma("omp parallel num_threads(threads)")                                                           \
    {                                                                                                      \
        int nt_ = omp_get_num_threads(), t_ = omp_get_thread_num();                                        \
        long chunk_ = (((n) + nt_ - 1) / nt_ + 15) & ~15L;                                                 \
        long begin = (long)t_ * chunk_, end = begin + chunk_ > (n) ? (n) : begin + chunk_;                 \
        if (begin < end) { body; }                                                                         \
    }


void EXPORT(gelu_forward)(const float *x, float *y, long n, int threads)
{
    PARALLEL_RANGES(n, threads, gelu_forward_range(x + begin, y + begin, end - begin))
}

void EXPORT(gelu_backward)(const float *x, const float *dy, float *dx, long n, int threads)
{
    PARALLEL_RANGES(n, threads, gelu_backward_range(x + begin, dy + begin, dx + begin, end - begin))
}

/* Threads' shares of `rows` rows: [*begin, *end) for thread t of nt. */
static inline void row_share(long rows, int nt, int t, long *begin, long *end)
{
    long per = (rows + nt - 1) / nt;
    *begin = t * per < rows ? t * per : rows;
    *end = *begin + per < rows ? *begin + per : rows;
}

/*
 * Column sums of per-thread partials acc[t][0..cols) into out, in thread order (a fixed thread count gives fixed
 * bits), then frees them.
 */
static void reduce_partials(float **acc, int nt, long cols, float *out)
{
    for (long j = 0; j < cols; j++) out[j] = 0.0f;
    for (int t = 0; t < nt; t++) {
        if (!acc[t]) continue;
        for (long j = 0; j < cols; j++) out[j] += acc[t][j];
        free(acc[t]);
    }
}

/*
 * GELU's backward for a = x·Wᵀ + bias (rows, cols): dh = dy ⊙ GELU'(a), and also the bias's gradient, Σ over rows of
 * dh, summed while the rows are in cache (libtorch's linear layer would make a separate pass for it).
 */
void EXPORT(gelu_bias_backward)(const float *a, const float *dy, float *dh, float *dbias, long rows, long cols, int threads)
{
    float *acc[256] = {0};
    if (threads > 256) threads = 256;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        long begin, end;
        row_share(rows, omp_get_num_threads(), t, &begin, &end);
        float *sum = calloc((size_t)cols, sizeof(float));
        acc[t] = sum;
        for (long i = begin; i < end; i++) {
            float *d = dh + i * cols;
            gelu_backward_range(a + i * cols, dy + i * cols, d, cols);
#pragma omp simd
            for (long j = 0; j < cols; j++) sum[j] += d[j];
        }
    }
    reduce_partials(acc, threads, cols, dbias);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Small products inside one head                                                                                   */

/*
 * C[r][0:W·NV] (=|+=) Σ_k A(r, k) · B[k][0:W·NV] for four rows r, k in [0, K): A(r, k) = a[r][k·acs] (row pointers,
 * so a transposed A is acs = its row length), B row-major with leading dimension ldb. Rows past the matrix's end are
 * given as copies of the last row and not stored (nstore). 4 × NV accumulators stay in registers.
 */
#define DEFINE_TILE(NV)                                                                                    \
static inline void tile4x##NV(const float *const a[4], long acs, const float *b, long ldb, long K,         \
                              float *c, long ldc, int nstore, int accumulate)                              \
{                                                                                                          \
    vf acc[4][NV];                                                                                         \
    for (int r = 0; r < 4; r++)                                                                            \
        for (int v = 0; v < NV; v++) acc[r][v] = (vf){0};                                                  \
    for (long k = 0; k < K; k++) {                                                                         \
        vf bv[NV];                                                                                         \
        for (int v = 0; v < NV; v++) bv[v] = vload(b + k * ldb + W * v);                                   \
        for (int r = 0; r < 4; r++) {                                                                      \
            vf av = vbroadcast(a[r][k * acs]);                                                             \
            for (int v = 0; v < NV; v++) acc[r][v] += av * bv[v];                                          \
        }                                                                                                  \
    }                                                                                                      \
    for (int r = 0; r < nstore; r++)                                                                       \
        for (int v = 0; v < NV; v++) {                                                                     \
            float *p = c + r * ldc + W * v;                                                                \
            vstore(p, accumulate ? vload(p) + acc[r][v] : acc[r][v]);                                      \
        }                                                                                                  \
}
DEFINE_TILE(1)
DEFINE_TILE(2)
#if TILE_NV > 2
DEFINE_TILE(3)
DEFINE_TILE(4)
#endif

/*
 * Rows [i0, i0 + 4) ∩ [0, M) of A · B over k in [k0, k1), N columns (a multiple of 16, so of W), stored from c on (c
 * is row i0, leading dimension ldc). A(i, k) = a[i·ars + k·acs]; B row-major with leading dimension ldb.
 */
static void rows4(const float *a, long ars, long acs, long M, long i0, const float *b, long ldb, long k0, long k1,
                  long N, float *c, long ldc)
{
    const float *arow[4];
    int nstore = (int)(M - i0 < 4 ? M - i0 : 4);
    for (int r = 0; r < 4; r++) arow[r] = a + (i0 + (r < nstore ? r : nstore - 1)) * ars + k0 * acs;
    const float *bk = b + k0 * ldb;
    long K = k1 - k0;
    /*
     * A read down its columns (acs > 1: dSᵀ and Pᵀ in attention's backward pass) touches a new cache line per k. When
     * the columns take several tiles (narrow vectors), the four rows are first packed k-major, so that each tile reads
     * them sequentially instead of striding through the block again.
     */
    float apack[4 * 1024];
    if (acs != 1 && N > W * TILE_NV && K <= 1024) {
        for (long k = 0; k < K; k++)
            for (int r = 0; r < 4; r++) apack[4 * k + r] = arow[r][k * acs];
        for (int r = 0; r < 4; r++) arow[r] = apack + r;
        acs = 4;
    }
    float *crow = c;
    long j = 0;
#if TILE_NV > 2
    for (; j + 4 * W <= N; j += 4 * W) tile4x4(arow, acs, bk + j, ldb, K, crow + j, ldc, nstore, 0);
    switch ((N - j) / W) {
    case 3: tile4x3(arow, acs, bk + j, ldb, K, crow + j, ldc, nstore, 0); break;
    case 2: tile4x2(arow, acs, bk + j, ldb, K, crow + j, ldc, nstore, 0); break;
    case 1: tile4x1(arow, acs, bk + j, ldb, K, crow + j, ldc, nstore, 0); break;
    default: break;
    }
#else
    for (; j + 2 * W <= N; j += 2 * W) tile4x2(arow, acs, bk + j, ldb, K, crow + j, ldc, nstore, 0);
    if (j < N) tile4x1(arow, acs, bk + j, ldb, K, crow + j, ldc, nstore, 0);
#endif
}

static inline long round16(long n) { return (n + 15) & ~15L; }

#if defined(PTM_ISA_AVX512)
/* Lanes [0, n - j) of the 16 starting at column j. */
static inline __mmask16 lanes(long j, long n) { return n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1); }

/*
 * Transposes the 16 × 16 block held in r[0..16) in place (r[c] becomes column c). After two unpack stages, vector
 * k of each group of four rows holds, in 128-bit lane L, that group's four values of column 4L + k; two lane
 * shuffles then gather lane L of the four groups into column 4L + k.
 */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    __m512 e[4][4];                                     /* e[group][k] */
    for (int g = 0; g < 4; g++) {
        __m512d lo0 = _mm512_castps_pd(t[4 * g]), lo1 = _mm512_castps_pd(t[4 * g + 2]);
        __m512d hi0 = _mm512_castps_pd(t[4 * g + 1]), hi1 = _mm512_castps_pd(t[4 * g + 3]);
        e[g][0] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
        e[g][1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
        e[g][2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
        e[g][3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
    }
    for (int k = 0; k < 4; k++) {
        __m512 x01 = _mm512_shuffle_f32x4(e[0][k], e[1][k], 0x44), y01 = _mm512_shuffle_f32x4(e[0][k], e[1][k], 0xEE);
        __m512 x23 = _mm512_shuffle_f32x4(e[2][k], e[3][k], 0x44), y23 = _mm512_shuffle_f32x4(e[2][k], e[3][k], 0xEE);
        r[k] = _mm512_shuffle_f32x4(x01, x23, 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(x01, x23, 0xDD);
        r[8 + k] = _mm512_shuffle_f32x4(y01, y23, 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(y01, y23, 0xDD);
    }
}

/* (T × hd, row stride ld) to (hd × Tp), zero beyond T, in 16 × 16 blocks. */
static void transpose_head(const float *x, long ld, long T, long hd, long Tp, float *xt)
{
    for (long t0 = 0; t0 < Tp; t0 += 16)
        for (long d0 = 0; d0 < hd; d0 += 16) {
            __mmask16 cols = lanes(d0, hd);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = t0 + i < T ? _mm512_maskz_loadu_ps(cols, x + (t0 + i) * ld + d0) : _mm512_setzero_ps();
            transpose16(r);
            int out = hd - d0 < 16 ? (int)(hd - d0) : 16;
            for (int c = 0; c < out; c++) _mm512_storeu_ps(xt + (d0 + c) * Tp + t0, r[c]);
        }
}
#else
/*
 * (T × hd, row stride ld) to (hd × Tp), zero beyond T: 16 rows at a time, so each output row is written in runs of
 * 16 contiguous floats while the 16 input rows stay in cache.
 */
static void transpose_head(const float *x, long ld, long T, long hd, long Tp, float *xt)
{
    for (long t0 = 0; t0 < Tp; t0 += 16) {
        long rows = T - t0 < 16 ? (T - t0 > 0 ? T - t0 : 0) : 16;
        for (long d = 0; d < hd; d++) {
            float *o = xt + d * Tp + t0;
            for (long i = 0; i < rows; i++) o[i] = x[(t0 + i) * ld + d];
            for (long i = rows; i < 16; i++) o[i] = 0.0f;
        }
    }
}
#endif

/* Copies rows of width hd (a multiple of 16 or not) out of a padded scratch block into strided memory. */
static void store_rows(const float *src, long lds, long rows, long hd, float *dst, long ldd)
{
    for (long i = 0; i < rows; i++) memcpy(dst + i * ldd, src + i * lds, (size_t)hd * sizeof(float));
}

/*
 * rows4 for a product hd wide, stored into rows of dst (row i0 first, leading dimension ldd): directly when hd is a
 * multiple of 16, else through the four-row block blk (width hdp) so the padding columns are not written.
 */
static void rows4_into(const float *a, long ars, long acs, long M, long i0, const float *b, long ldb, long k0, long k1,
                       long hd, long hdp, float *dst, long ldd, float *blk)
{
    if (hd == hdp) {
        rows4(a, ars, acs, M, i0, b, ldb, k0, k1, hd, dst, ldd);
        return;
    }
    rows4(a, ars, acs, M, i0, b, ldb, k0, k1, hdp, blk, hdp);
    store_rows(blk, hdp, M - i0 < 4 ? M - i0 : 4, hd, dst, ldd);
}

/* A per-thread scratch buffer of at least `floats` floats, 64-byte aligned (aligned_alloc wants a multiple of 64). */
static float *scratch(size_t floats)
{
    return aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
}

/*
 * T rows of width hd (leading dimension *ld) as a B operand of width hdp: the rows themselves when hd is a multiple
 * of 16, else copies padded with zeros into buf (T × hdp), with *ld set to hdp.
 */
static const float *padded_rows(const float *x, long *ld, long T, long hd, long hdp, float *buf)
{
    if (hdp == hd) return x;
    for (long t = 0; t < T; t++) {
        memcpy(buf + t * hdp, x + t * *ld, (size_t)hd * sizeof(float));
        memset(buf + t * hdp + hd, 0, (size_t)(hdp - hd) * sizeof(float));
    }
    *ld = hdp;
    return buf;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Causal self-attention                                                                                            */

/*
 * qkv (B, T, 3C) → y (B, T, C), probabilities p (B, nh, T, Tp). Each (batch, head) pair is independent; hd = C / nh.
 * Scratch per pair: kᵀ (hd × Tp), a score row block, and an output block of width hdp = hd rounded up to 16.
 */
void EXPORT(causal_attention_forward)(const float *qkv, float *y, float *p, long B, long T, long C, long nh, int threads)
{
    const long hd = C / nh, Tp = round16(T), hdp = round16(hd);
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel num_threads(threads)
    {
        float *kt = scratch((size_t)(hd * Tp + hdp * T + 4 * hdp));
        float *vpad = kt + hd * Tp;                       /* v with rows padded to hdp (only when hd % 16 != 0) */
        float *oblk = vpad + hdp * T;                      /* four output rows of width hdp */
#pragma omp for schedule(static)
        for (long pair = 0; pair < B * nh; pair++) {
            long b = pair / nh, h = pair % nh;
            const float *q = qkv + b * T * 3 * C + h * hd;
            const float *k = q + C, *v = q + 2 * C;
            float *pp = p + pair * T * Tp;
            float *yo = y + b * T * C + h * hd;
            transpose_head(k, 3 * C, T, hd, Tp, kt);
            long ldv = 3 * C;
            const float *vb = padded_rows(v, &ldv, T, hd, hdp, vpad);
            for (long i0 = 0; i0 < T; i0 += 4) {
                long rows = T - i0 < 4 ? T - i0 : 4;
                long keys = i0 + rows;                    /* keys any of these rows may see */
                long ncol = round16(keys);
                /* scores S = q kᵀ for columns [0, ncol), straight into p's rows */
                rows4(q, 3 * C, 1, T, i0, kt, Tp, 0, hd, ncol, pp + i0 * Tp, Tp);
                for (long r = 0; r < rows; r++) causal_softmax_row(pp + (i0 + r) * Tp, i0 + r, Tp, scale);
                /* O = P v over the keys these rows see */
                rows4_into(pp, Tp, 1, T, i0, vb, ldv, 0, keys, hd, hdp, yo + i0 * C, C, oblk);
            }
        }
        free(kt);
    }
}

/*
 * dy (B, T, C), qkv, y and p from the forward pass → dqkv (B, T, 3C), and when dbias is not null the gradient of the
 * projection's bias, Σ over (B, T) of dqkv (3C), summed per (batch, head) while its rows are in cache.
 *   D_i = Σ_d dy_id y_id;  dP = dy vᵀ;  dS = P ⊙ (dP − D) / √hd;  dq = dS k;  dk = dSᵀ q;  dv = Pᵀ dy.
 */
void EXPORT(causal_attention_backward)(const float *dy, const float *qkv, const float *y, const float *p, float *dqkv,
                                   float *dbias, long B, long T, long C, long nh, int threads)
{
    const long hd = C / nh, Tp = round16(T), hdp = round16(hd);
    const float scale = 1.0f / sqrtf((float)hd);
    float *acc[256] = {0};                                /* per-thread column sums of dqkv, when dbias is wanted */
    if (threads > 256) threads = 256;
#pragma omp parallel num_threads(threads)
    {
        float *bsum = dbias ? calloc((size_t)(3 * C), sizeof(float)) : NULL;
        acc[omp_get_thread_num()] = bsum;
        float *vt = scratch((size_t)(hd * Tp + T * Tp + T + 3 * hdp * T + 4 * hdp));
        float *ds = vt + hd * Tp;                         /* dS (T × Tp) */
        float *drow = ds + T * Tp;                        /* D (T) */
        float *qpad = drow + T, *kpad = qpad + hdp * T, *dypad = kpad + hdp * T;
        float *blk = dypad + hdp * T;                     /* four result rows of width hdp */
#pragma omp for schedule(static)
        for (long pair = 0; pair < B * nh; pair++) {
            long b = pair / nh, h = pair % nh;
            const float *q = qkv + b * T * 3 * C + h * hd;
            const float *k = q + C, *v = q + 2 * C;
            const float *pp = p + pair * T * Tp;
            const float *dyo = dy + b * T * C + h * hd, *yo = y + b * T * C + h * hd;
            float *dq = dqkv + b * T * 3 * C + h * hd, *dk = dq + C, *dv = dq + 2 * C;

            for (long i = 0; i < T; i++) drow[i] = dot(dyo + i * C, yo + i * C, hd);
            transpose_head(v, 3 * C, T, hd, Tp, vt);

            /* B operands of width hdp: in place when hd is a multiple of 16, else padded copies. */
            long ldq = 3 * C, ldk = 3 * C, lddy = C;
            const float *qb = padded_rows(q, &ldq, T, hd, hdp, qpad);
            const float *kb = padded_rows(k, &ldk, T, hd, hdp, kpad);
            const float *dyb = padded_rows(dyo, &lddy, T, hd, hdp, dypad);

            for (long i0 = 0; i0 < T; i0 += 4) {
                long rows = T - i0 < 4 ? T - i0 : 4;
                long ncol = round16(i0 + rows);
                rows4(dyo, C, 1, T, i0, vt, Tp, 0, hd, ncol, ds + i0 * Tp, Tp);          /* dP rows, into dS's rows */
                for (long r = 0; r < rows; r++) {
                    long i = i0 + r;
                    float *g = ds + i * Tp;
                    const float *pr = pp + i * Tp;
                    for (long j = 0; j <= i; j++) g[j] = pr[j] * (g[j] - drow[i]) * scale;
                    for (long j = i + 1; j < Tp; j++) g[j] = 0.0f;
                }
            }
            for (long i0 = 0; i0 < T; i0 += 4) {
                long rows = T - i0 < 4 ? T - i0 : 4;
                /* dq rows i0.. = dS[i, k ≤ i] k */
                rows4_into(ds, Tp, 1, T, i0, kb, ldk, 0, i0 + rows, hd, hdp, dq + i0 * 3 * C, 3 * C, blk);
                /* dk rows i0.. = Σ_{t ≥ i0} dS[t, i] q_t  (dS[t, i] = 0 for t < i) */
                rows4_into(ds, 1, Tp, T, i0, qb, ldq, i0, T, hd, hdp, dk + i0 * 3 * C, 3 * C, blk);
                /* dv rows i0.. = Σ_{t ≥ i0} P[t, i] dy_t */
                rows4_into(pp, 1, Tp, T, i0, dyb, lddy, i0, T, hd, hdp, dv + i0 * 3 * C, 3 * C, blk);
            }
            if (bsum)                                    /* this pair's share of the bias gradient: its columns over T */
                for (long t = 0; t < T; t++)
                    for (int part = 0; part < 3; part++) {
                        const float *g = dq + t * 3 * C + part * C;
                        float *sb = bsum + part * C + h * hd;
#pragma omp simd
                        for (long d = 0; d < hd; d++) sb[d] += g[d];
                    }
        }
        free(vt);
    }
    if (dbias) reduce_partials(acc, threads, 3 * C, dbias);
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* Cross-entropy                                                                                                    */

/*
 * log Σ_j e^(x_j) over one row of V logits, the maximum subtracted first. NaN or +∞ anywhere in the row gives NaN,
 * as libtorch's log_softmax does (the clamped exp below would otherwise hide them).
 */
static float row_log_sum_exp(const float *x, long V)
{
    float mx = -INFINITY;
    int bad = 0;
#pragma omp simd reduction(max : mx) reduction(| : bad)
    for (long j = 0; j < V; j++) {
        float v = x[j];
        bad |= (v != v) | (v == INFINITY);
        mx = v > mx ? v : mx;
    }
    if (bad) return NAN;
    if (mx == -INFINITY) return NAN;                      /* every logit -∞: no distribution (libtorch: NaN too) */
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (long j = 0; j < V; j++) sum += exp_approx(x[j] - mx);
    return mx + logf(sum);
}

/*
 * logits (N, V), targets (N) → lse (N) for the backward pass, *loss_sum = Σ over rows whose target is not `ignore`
 * of lse_i − x_i,t (in double, per-thread row ranges added in thread order, so a fixed thread count gives fixed
 * bits), *count = how many such rows. Returns -1, or the first row whose target is neither `ignore` nor in [0, V)
 * (then nothing else is meaningful).
 */
long EXPORT(cross_entropy_forward)(const float *logits, const int64_t *targets, long N, long V, int64_t ignore, float *lse,
                               double *loss_sum, long *count, int threads)
{
    long bad = -1;
    for (long i = 0; i < N; i++)
        if (targets[i] != ignore && (targets[i] < 0 || targets[i] >= V)) { bad = i; break; }
    if (bad >= 0) return bad;
    double partial[256] = {0};
    long counted[256] = {0};
    if (threads > 256) threads = 256;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        long begin, end;
        row_share(N, omp_get_num_threads(), t, &begin, &end);
        double sum = 0;
        long n = 0;
        for (long i = begin; i < end; i++) {
            if (targets[i] == ignore) { lse[i] = 0.0f; continue; }
            const float *x = logits + i * V;
            lse[i] = row_log_sum_exp(x, V);
            sum += (double)lse[i] - (double)x[targets[i]];
            n++;
        }
        partial[t] = sum;
        counted[t] = n;
    }
    double total = 0;
    long n = 0;
    for (int t = 0; t < threads; t++) { total += partial[t]; n += counted[t]; }
    *loss_sum = total;
    *count = n;
    return -1;
}

/* dlogits = scale · (softmax(x_i) − onehot(t_i)) per row; rows whose target is `ignore` get zeros. */
void EXPORT(cross_entropy_backward)(const float *logits, const int64_t *targets, const float *lse, long N, long V,
                                int64_t ignore, float scale, float *dlogits, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < N; i++) {
        const float *x = logits + i * V;
        float *d = dlogits + i * V;
        if (targets[i] == ignore) { memset(d, 0, (size_t)V * sizeof(float)); continue; }
        const float l = lse[i];
#pragma omp simd
        for (long j = 0; j < V; j++) d[j] = exp_approx(x[j] - l) * scale;
        d[targets[i]] -= scale;
    }
}
