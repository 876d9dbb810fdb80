/* Fused CPU step of the factored strategy mixture (see reference.py, strategy_mixture_factored).
 *
 * For each selected fp32 row l of a [B, V] logits matrix, in place:
 *
 *     m    = max_y l(y)                     (0 when the row holds a NaN or no finite maximum)
 *     D_s  = sum_y exp(l(y) - m) F_s(y)
 *     w_s  = p(s) / D_s                     (0 where that is not finite: D_s = 0)
 *     l(y) = (l(y) - m) + log sum_s w_s F_s(y)
 *
 * the same formula and order of operations as the PyTorch prepared step (_FactoredStep in
 * kernels/logits_processor.py), in one pass per row instead of about ten tensor operations,
 * each of which costs a dispatch and a sweep over [R, V] at the small vocabularies where the
 * step's time is per operation. Sums run in a different order than torch's, so results agree
 * to fp32 rounding, not bit for bit.
 *
 * Built at first use by native.py with the machine's C compiler. With SOLACE_MVEC the exp and
 * log loops call glibc's vector math library (libmvec, at most 4 ulp), which is what makes
 * one pass cheaper than torch's vectorised kernels; without it they are scalar calls.
 * Single-threaded on purpose: it runs inside an engine whose own threads are busy, and a
 * second OpenMP runtime beside torch's is a known source of trouble.
 */
#include <math.h>
#include <stdint.h>

#ifdef SOLACE_MVEC
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float logf(float);
#endif

/* Lanes of one block: each pass works on BLOCK tokens at a time, with every strategy's
 * partial sums held per lane, so the exp, the S products and the log of a token happen while
 * it is in registers (one sweep of the factors per pass, no [V] intermediate per strategy). */
#define BLOCK 32
/* Strategies a row may mix; native.py sends wider tables to the PyTorch step. */
#define MAX_STRATEGIES 16

/* Version of the calling convention; native.py refuses a library that reports another. */
int solace_mixture_abi(void) { return 2; }

int solace_mixture_max_strategies(void) { return MAX_STRATEGIES; }

/* One row. Always inlined, so a call with a constant strategy count (ESConv's 8) unrolls
 * every loop over s and keeps the per-lane sums in vector registers. */
static inline __attribute__((always_inline)) void mixture_row(
    float *l, int64_t vocab, const float *factors, const float *p, const int64_t n_strategies)
{
    const int64_t full = vocab - vocab % BLOCK;
    float m = -INFINITY;
    int has_nan = 0;
#pragma omp simd reduction(max : m) reduction(| : has_nan)
    for (int64_t y = 0; y < vocab; y++) {
        float x = l[y];
        has_nan |= (x != x);
        m = x > m ? x : m;
    }
    if (has_nan || !isfinite(m))
        m = 0.0f; /* torch's nan_to_num of the row max */

    /* D_s = sum_y exp(l(y) - m) F_s(y), per lane, then across lanes. */
    float acc[MAX_STRATEGIES][BLOCK];
    for (int64_t s = 0; s < n_strategies; s++)
        for (int j = 0; j < BLOCK; j++)
            acc[s][j] = 0.0f;
    for (int64_t y = 0; y < full; y += BLOCK) {
        float e[BLOCK];
#pragma omp simd
        for (int j = 0; j < BLOCK; j++)
            e[j] = expf(l[y + j] - m);
        for (int64_t s = 0; s < n_strategies; s++) {
            const float *f = factors + s * vocab + y;
#pragma omp simd
            for (int j = 0; j < BLOCK; j++)
                acc[s][j] += e[j] * f[j];
        }
    }
    for (int64_t y = full; y < vocab; y++) {
        float e = expf(l[y] - m);
        for (int64_t s = 0; s < n_strategies; s++)
            acc[s][0] += e * factors[s * vocab + y];
    }
    float weights[MAX_STRATEGIES];
    for (int64_t s = 0; s < n_strategies; s++) {
        float d = 0.0f;
        for (int j = 0; j < BLOCK; j++)
            d += acc[s][j];
        float w = p[s] / d;
        weights[s] = isfinite(w) ? w : 0.0f; /* D_s = 0: no allowed token */
    }

    /* l(y) = (l(y) - m) + log sum_s w_s F_s(y) */
    for (int64_t y = 0; y < full; y += BLOCK) {
        float q[BLOCK];
#pragma omp simd
        for (int j = 0; j < BLOCK; j++)
            q[j] = weights[0] * factors[y + j];
        for (int64_t s = 1; s < n_strategies; s++) {
            const float *f = factors + s * vocab + y;
            const float w = weights[s];
#pragma omp simd
            for (int j = 0; j < BLOCK; j++)
                q[j] += w * f[j];
        }
#pragma omp simd
        for (int j = 0; j < BLOCK; j++)
            l[y + j] = (l[y + j] - m) + logf(q[j]);
    }
    for (int64_t y = full; y < vocab; y++) {
        float q = weights[0] * factors[y];
        for (int64_t s = 1; s < n_strategies; s++)
            q += weights[s] * factors[s * vocab + y];
        l[y] = (l[y] - m) + logf(q);
    }
}

void solace_mixture_rows(
    float *logits,          /* [B, V], rows `row_stride` floats apart, unit stride within a row */
    int64_t row_stride,
    const int64_t *rows,    /* [n_rows] row indices, or NULL for rows 0 .. n_rows - 1 */
    int64_t n_rows,
    int64_t vocab,
    const float *factors,   /* [S, V] contiguous, F_s(y) in (0, 1] */
    const float *probs,     /* [n_rows, S] contiguous, each row normalised */
    int64_t n_strategies)   /* 1 .. MAX_STRATEGIES */
{
    for (int64_t r = 0; r < n_rows; r++) {
        float *l = logits + (rows ? rows[r] : r) * row_stride;
        const float *p = probs + r * n_strategies;
        if (n_strategies == 8)
            mixture_row(l, vocab, factors, p, 8);
        else
            mixture_row(l, vocab, factors, p, n_strategies);
    }
}
