/* Fused CBAM's map-sized passes for float32 NCHW maps on the CPU (see cpu.py, which builds and
 * loads this file, and torch_ops.py, the same passes in torch operators that these must equal).
 *
 * Every loop over positions runs along contiguous memory so the compiler can vectorise it; rows
 * (one channel of one image) or images are spread over OpenMP threads, as many as torch uses.
 * x, g, out, dx: N x C x HW; mc, d_mc, avg, mx, d_avg, d_mx: N x C; ms, d_ms: N x HW;
 * desc, d_desc: N x 2 x HW (mean, then max); where_hw: N x C; where_c: N x HW, int32 (as wide as a
 * float, so a vector of channels compares with a vector of the map's values). */
#include "vectors.h"
#include "passes.h"

#define CHAINS 4  /* independent accumulators per reduction: one alone waits on its own adds */

static const lanes IOTA = {0, 1, 2, 3, 4, 5, 6, 7};

/* Lane-wise: where `better`, take v and its place. */
static inline void take(vec *best, lanes *at, vec v, lanes place, lanes better) {
    *best = (vec)(((lanes)v & better) | ((lanes)*best & ~better));
    *at = (place & better) | (*at & ~better);
}

/* Of two maxima from different places, the one at the earlier place (a later place within one
 * lane only wins with a larger value, so the first maximum is kept there). */
static inline void merge_max(vec *best, lanes *at, vec v, lanes place) {
    take(best, at, v, place, (v > *best) | ((v == *best) & (place < *at)));
}

/* One row's average, maximum and the maximum's first place (as torch's max reports it). */
static void pool_row(const float *p, int64_t HW, float *avg, float *mx, int64_t *where) {
    /* One pass: every lane of CHAINS vectors keeps its sum, its maximum and the vector it first
     * saw it in; the chains, then the lanes, are combined, and the last few positions are added
     * one by one. */
    vec sums[CHAINS], best[CHAINS];
    lanes at[CHAINS];  /* where each lane's maximum sat: the place of its vector's first lane */
    for (int k = 0; k < CHAINS; ++k) sums[k] = splat(0.0f), best[k] = splat(-INFINITY), at[k] = (lanes){0};
    int64_t i = 0;
    /* The blends are spelled out in both loops: the same through take(), or through a helper
     * taking and returning values, measured a quarter slower here (GCC 12, -O3). */
    for (; i + CHAINS * LANES <= HW; i += CHAINS * LANES)
        for (int k = 0; k < CHAINS; ++k) {
            const vec v = load(p + i + k * LANES);
            const lanes better = v > best[k];
            sums[k] += v;
            best[k] = (vec)(((lanes)v & better) | ((lanes)best[k] & ~better));
            at[k] = (((lanes){0} + (int32_t)(i + k * LANES)) & better) | (at[k] & ~better);
        }
    for (; i + LANES <= HW; i += LANES) {
        const vec v = load(p + i);
        const lanes better = v > best[0];
        sums[0] += v;
        best[0] = (vec)(((lanes)v & better) | ((lanes)best[0] & ~better));
        at[0] = (((lanes){0} + (int32_t)i) & better) | (at[0] & ~better);
    }
    const int chains = HW >= CHAINS * LANES ? CHAINS : 1;  /* a short row used only the first */
    for (int k = 0; k < chains; ++k) at[k] += IOTA;  /* the lane's own offset in its vector */
    for (int k = 1; k < chains; ++k) sums[0] += sums[k], merge_max(&best[0], &at[0], best[k], at[k]);
    float total = lane_sum(sums[0]), top = -INFINITY;
    int64_t first = 0;
    for (int l = 0; l < LANES; ++l)
        if (best[0][l] > top || (best[0][l] == top && at[0][l] < first)) top = best[0][l], first = at[0][l];
    for (; i < HW; ++i) {
        total += p[i];
        if (p[i] > top) top = p[i], first = i;
    }
    *avg = total / (float)HW;
    *mx = top;
    *where = first;
}

/* LANES rows of a short map at once, lane l holding row l's sum, maximum and the maximum's first
 * place, one position after another (a strided load each): pool_row's lanes would each
 * see a few positions, and combining them costs more than the row's own loads (at 4 x 4, 25
 * ns a row, one thread; this takes an eighth of that). */
static void pool_rows_across(const float *p, int64_t HW, float *avg, float *mx, int64_t *where) {
    vec sum, best;
    for (int l = 0; l < LANES; ++l) best[l] = p[l * HW];  /* the first position, so a map of -inf keeps -inf */
    sum = best;
    lanes at = {0};
    for (int64_t i = 1; i < HW; ++i) {
        vec v;
        for (int l = 0; l < LANES; ++l) v[l] = p[l * HW + i];
        const lanes better = v > best;
        sum += v;
        best = pick(better, v, best);
        at = (((lanes){0} + (int32_t)i) & better) | (at & ~better);
    }
    store(avg, sum / splat((float)HW));
    store(mx, best);
    for (int l = 0; l < LANES; ++l) where[l] = at[l];
}

#define SHORT_ROW 64  /* positions: below this, rows go LANES at a time (as fast at 64, 3-12x faster at 4-36) */

/* Rows first to last - 1 of maps of HW positions, one by one, or LANES at a time where rows are short. */
void cbam_pool_rows(const float *x, int64_t first, int64_t last, int64_t HW, float *avg, float *mx, int64_t *where) {
    int64_t row = first;
    if (HW < SHORT_ROW)
        for (; row + LANES <= last; row += LANES) pool_rows_across(x + row * HW, HW, avg + row, mx + row, where + row);
    for (; row < last; ++row) pool_row(x + row * HW, HW, avg + row, mx + row, where + row);
}

void cbam_pool(const float *x, int64_t N, int64_t C, int64_t HW, float *avg, float *mx, int64_t *where_hw, int threads) {
    const int64_t rows = N * C, blocks = (rows + LANES - 1) / LANES;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t last = (b + 1) * LANES < rows ? (b + 1) * LANES : rows;
        cbam_pool_rows(x, b * LANES, last, HW, avg, mx, where_hw);
    }
}

/* `count` (<= BLOCK) vectors of positions from i on, over every channel, with the running mean,
 * maximum and its channel in registers (the map is read once, the outputs written once). */
#define BLOCK 4
static inline void describe_block(const float *x, const float *mc, int64_t C, int64_t HW, int64_t i, int count,
                                  float *mean, float *best, int32_t *at) {
    vec sum[BLOCK], top[BLOCK];
    lanes where[BLOCK];
    for (int k = 0; k < count; ++k) sum[k] = splat(0.0f), top[k] = splat(-INFINITY), where[k] = (lanes){0};
    for (int64_t c = 0; c < C; ++c) {
        const float *p = x + c * HW + i;
        const vec s = splat(mc[c]);
        for (int k = 0; k < count; ++k) {
            const vec v = load(p + k * LANES) * s;
            const lanes better = v > top[k];
            sum[k] += v;
            top[k] = pick(better, v, top[k]);
            where[k] = (((lanes){0} + (int32_t)c) & better) | (where[k] & ~better);
        }
    }
    for (int k = 0; k < count; ++k) {
        store(mean + i + k * LANES, sum[k] / splat((float)C));
        store(best + i + k * LANES, top[k]);
        memcpy(at + i + k * LANES, &where[k], sizeof where[k]);
    }
}

/* One image's channel mean and max of x * mc (`mc`: its C values), and the channel of each max. */
void cbam_describe_image(const float *x, const float *mc, int64_t C, int64_t HW, float *desc, int32_t *at) {
    float *mean = desc, *best = desc + HW;
    int64_t i = 0;
    for (; i + BLOCK * LANES <= HW; i += BLOCK * LANES) describe_block(x, mc, C, HW, i, BLOCK, mean, best, at);
    for (; i + LANES <= HW; i += LANES) describe_block(x, mc, C, HW, i, 1, mean, best, at);
    for (; i < HW; ++i) {  /* the last few positions one by one */
        float sum = 0.0f, top = -INFINITY;
        int32_t where = 0;
        for (int64_t c = 0; c < C; ++c) {
            const float v = x[c * HW + i] * mc[c];
            sum += v;
            if (v > top) top = v, where = (int32_t)c;
        }
        mean[i] = sum / (float)C, best[i] = top, at[i] = where;
    }
}

void cbam_describe(const float *x, const float *mc, int64_t N, int64_t C, int64_t HW, float *desc, int32_t *where_c, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) cbam_describe_image(x + n * C * HW, mc + n * C, C, HW, desc + n * 2 * HW, where_c + n * HW);
}

void cbam_gate(const float *x, const float *mc, const float *ms, int64_t N, int64_t C, int64_t HW, float *out, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const float *p = x + row * HW, *m = ms + (row / C) * HW;
        float *o = out + row * HW;
        const float s = mc[row];
        #pragma omp simd
        for (int64_t i = 0; i < HW; ++i) o[i] = p[i] * s * m[i];
    }
}

/* dL/dms, and the gating's share of dL/dmc (the sum over positions of g * x * ms) while g and x
 * are being read anyway: grad_mc then reads x alone. */
void cbam_grad_ms(const float *g, const float *x, const float *mc, const float *ms, int64_t N, int64_t C, int64_t HW,
                  float *d_ms, float *gated_share, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        float *d = d_ms + n * HW;
        const float *m = ms + n * HW;
        for (int64_t i = 0; i < HW; ++i) d[i] = 0.0f;
        for (int64_t c = 0; c < C; ++c) {
            const float *gp = g + (n * C + c) * HW, *xp = x + (n * C + c) * HW;
            const float s = mc[n * C + c];
            float share = 0.0f;
            #pragma omp simd reduction(+:share)
            for (int64_t i = 0; i < HW; ++i) {
                const float gx = gp[i] * xp[i];
                d[i] += gx * s;
                share += gx * m[i];
            }
            gated_share[n * C + c] = share;
        }
    }
}

/* dL/d(x * mc) at position i of channel c through the descriptor: the channel mean and the max.
 * (Its arguments are values, loaded whatever `at` holds: a load under the condition vectorises
 * into a masked one, which made grad_mc take twice as long.) */
static inline float grad_described(float d_mean, float d_max, int32_t at, int32_t c, float inv_c) {
    return d_mean * inv_c + (at == c ? d_max : 0.0f);
}

/* ... and through the gating too. */
static inline float grad_gated(float g, float ms, float d_mean, float d_max, int32_t at, int32_t c, float inv_c) {
    return g * ms + grad_described(d_mean, d_max, at, c, inv_c);
}

/* dL/dmc: the gating's share (from cbam_grad_ms), plus the descriptor's: x through the channel
 * mean at every position and through the max where this channel held it. */
void cbam_grad_mc(const float *gated_share, const float *x, const float *d_desc, const int32_t *where_c,
                  int64_t N, int64_t C, int64_t HW, float *d_mc, int threads) {
    const float inv_c = 1.0f / (float)C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const int64_t n = row / C;
        const int32_t c = (int32_t)(row % C);
        const float *xp = x + row * HW;
        const float *d_mean = d_desc + n * 2 * HW, *d_max = d_mean + HW;
        const int32_t *at = where_c + n * HW;
        float total = 0.0f;
        #pragma omp simd reduction(+:total)
        for (int64_t i = 0; i < HW; ++i) total += xp[i] * grad_described(d_mean[i], d_max[i], at[i], c, inv_c);
        d_mc[row] = gated_share[row] + total;
    }
}

void cbam_grad_input(const float *g, const float *mc, const float *ms, const float *d_desc, const int32_t *where_c,
                     const float *d_avg, const float *d_mx, const int64_t *where_hw, int64_t N, int64_t C, int64_t HW,
                     float *dx, int threads) {
    const float inv_c = 1.0f / (float)C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const int64_t n = row / C;
        const int32_t c = (int32_t)(row % C);
        const float *gp = g + row * HW, *m = ms + n * HW;
        const float *d_mean = d_desc + n * 2 * HW, *d_max = d_mean + HW;
        const int32_t *at = where_c + n * HW;
        const float s = mc[row], share = d_avg[row] / (float)HW;
        float *o = dx + row * HW;
        #pragma omp simd
        for (int64_t i = 0; i < HW; ++i) o[i] = s * grad_gated(gp[i], m[i], d_mean[i], d_max[i], at[i], c, inv_c) + share;
        o[where_hw[row]] += d_mx[row];
    }
}
