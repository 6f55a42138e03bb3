/* Fused CBAM's map-sized passes for float32 NCHW maps on the CPU (see cpu.py, which builds and
 * loads this file, and torch_ops.py, the same passes in torch operators that these must equal).
 *
 * Every loop over positions runs along contiguous memory so the compiler can vectorise it; rows
 * (one channel of one image) or images are spread over OpenMP threads, as many as torch uses.
 * x, g, out, dx: N x C x HW; mc, d_mc, avg, mx, d_avg, d_mx: N x C; ms, d_ms: N x HW;
 * desc, d_desc: N x 2 x HW (mean, then max); where_hw: N x C; where_c: N x HW. */
#include <stdint.h>
#include <stdlib.h>
#include <float.h>
#include <string.h>

/* Vectors of LANES floats through GCC's and Clang's vector extensions (see map_conv below). */
#define LANES 8
#define BLOCK 4  /* vectors of one output row kept in registers at once */
typedef float vec __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t lanes __attribute__((vector_size(LANES * sizeof(int32_t))));  /* a vector comparison's result */

static inline vec load(const float *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vec v) { memcpy(p, &v, sizeof v); }
static inline vec splat(float s) { vec v = {0}; return v + s; }
static inline float lane_sum(vec v) { float t = 0.0f; for (int i = 0; i < LANES; ++i) t += v[i]; return t; }

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

void cbam_pool(const float *x, int64_t N, int64_t C, int64_t HW, float *avg, float *mx, int64_t *where_hw, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const float *p = x + row * HW;
        /* One pass: every lane of CHAINS vectors keeps its sum, its maximum and the vector it first
         * saw it in; the chains, then the lanes, are combined (the maximum's first place overall,
         * as torch's max reports it), and the last few positions are added one by one. */
        vec sums[CHAINS], best[CHAINS];
        lanes at[CHAINS];  /* where each lane's maximum sat: the place of its vector's first lane */
        for (int k = 0; k < CHAINS; ++k) sums[k] = splat(0.0f), best[k] = splat(-FLT_MAX), at[k] = (lanes){0};
        int64_t i = 0;
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
        float total = lane_sum(sums[0]), top = -FLT_MAX;
        int64_t first = 0;
        for (int l = 0; l < LANES; ++l)
            if (best[0][l] > top || (best[0][l] == top && at[0][l] < first)) top = best[0][l], first = at[0][l];
        for (; i < HW; ++i) {
            total += p[i];
            if (p[i] > top) top = p[i], first = i;
        }
        avg[row] = total / (float)HW;
        mx[row] = top;
        where_hw[row] = first;
    }
}

void cbam_describe(const float *x, const float *mc, int64_t N, int64_t C, int64_t HW, float *desc, int64_t *where_c, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        float *mean = desc + n * 2 * HW, *best = mean + HW;
        int64_t *at = where_c + n * HW;
        for (int64_t i = 0; i < HW; ++i) { mean[i] = 0.0f; best[i] = -FLT_MAX; at[i] = 0; }
        for (int64_t c = 0; c < C; ++c) {
            const float *p = x + (n * C + c) * HW;
            const float s = mc[n * C + c];
            #pragma omp simd
            for (int64_t i = 0; i < HW; ++i) {
                const float v = p[i] * s;
                mean[i] += v;
                const int better = v > best[i];
                best[i] = better ? v : best[i];
                at[i] = better ? c : at[i];
            }
        }
        for (int64_t i = 0; i < HW; ++i) mean[i] /= (float)C;
    }
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
static inline float grad_described(float d_mean, float d_max, int64_t at, int64_t c, float inv_c) {
    return d_mean * inv_c + (at == c ? d_max : 0.0f);
}

/* ... and through the gating too. */
static inline float grad_gated(float g, float ms, float d_mean, float d_max, int64_t at, int64_t c, float inv_c) {
    return g * ms + grad_described(d_mean, d_max, at, c, inv_c);
}

/* dL/dmc: the gating's share (from cbam_grad_ms), plus the descriptor's: x through the channel
 * mean at every position and through the max where this channel held it. */
void cbam_grad_mc(const float *gated_share, const float *x, const float *d_desc, const int64_t *where_c,
                  int64_t N, int64_t C, int64_t HW, float *d_mc, int threads) {
    const float inv_c = 1.0f / (float)C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const int64_t n = row / C, c = row % C;
        const float *xp = x + row * HW;
        const float *d_mean = d_desc + n * 2 * HW, *d_max = d_mean + HW;
        const int64_t *at = where_c + n * HW;
        float total = 0.0f;
        #pragma omp simd reduction(+:total)
        for (int64_t i = 0; i < HW; ++i) total += xp[i] * grad_described(d_mean[i], d_max[i], at[i], c, inv_c);
        d_mc[row] = gated_share[row] + total;
    }
}

void cbam_grad_input(const float *g, const float *mc, const float *ms, const float *d_desc, const int64_t *where_c,
                     const float *d_avg, const float *d_mx, const int64_t *where_hw, int64_t N, int64_t C, int64_t HW,
                     float *dx, int threads) {
    const float inv_c = 1.0f / (float)C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const int64_t n = row / C, c = row % C;
        const float *gp = g + row * HW, *m = ms + n * HW;
        const float *d_mean = d_desc + n * 2 * HW, *d_max = d_mean + HW;
        const int64_t *at = where_c + n * HW;
        const float s = mc[row], share = d_avg[row] / (float)HW;
        float *o = dx + row * HW;
        #pragma omp simd
        for (int64_t i = 0; i < HW; ++i) o[i] = s * grad_gated(gp[i], m[i], d_mean[i], d_max[i], at[i], c, inv_c) + share;
        o[where_hw[row]] += d_mx[row];
    }
}

/* The spatial gate's k x k convolution of M maps to one ("same" padding p = k / 2, stride 1, no
 * bias), and its two gradients: x: N x M x H x W, w: M x k x k, out and g: N x H x W.
 *
 * Each image is first copied into a zero-padded buffer whose rows are a whole number of vectors
 * wide, so every inner loop runs over full vectors with no edge tests. An output row is then built
 * a few vectors at a time in registers: each of the M * k * k taps adds one weight times a shifted
 * row of the buffer, one load and one multiply-add per vector, and the row is stored once. The
 * gradient for the maps is the same correlation of the padded output gradient with the kernel
 * turned 180 degrees; the gradient for the weight is, per tap, the dot product of the output
 * gradient's rows with the buffer's shifted rows. GCC's and Clang's vector extensions keep this
 * portable: on a CPU without 8-wide registers they split into narrower ones. */

/* A zero-padded copy of `maps` maps of H x W: p rows above and below, p columns to the left, and
 * enough to the right that a row holds `blocks` vectors plus the kernel's reach. */
typedef struct { int64_t H, W, P, blocks, width, rows; } padding;

static padding pad_for(int64_t H, int64_t W, int64_t K) {
    padding d = {H, W, K / 2, (W + LANES - 1) / LANES, 0, 0};
    d.width = d.blocks * LANES + 2 * d.P;
    d.rows = H + 2 * d.P;
    return d;
}

static void pad_maps(const float *src, int64_t maps, padding d, float *dst) {
    memset(dst, 0, sizeof(float) * maps * d.rows * d.width);
    for (int64_t m = 0; m < maps; ++m)
        for (int64_t y = 0; y < d.H; ++y)
            memcpy(dst + (m * d.rows + y + d.P) * d.width + d.P, src + (m * d.H + y) * d.W, sizeof(float) * d.W);
}

/* `count` (<= BLOCK) vectors of output rows y to y + ROWS - 1 from block `first` on: the sum over
 * maps and taps of w[m][i][j] times the padded row y + r + i of map m shifted by j. Inlined with
 * constant counts, the ROWS * count accumulators live in registers, enough of them that the
 * multiply-adds of one do not wait on another's. */
#define ROWS 2
static inline void correlate_blocks(const float *padded, int64_t maps, const float *w, int64_t K, padding d,
                                    int64_t y, int rows, int64_t first, int count, float *rows_out) {
    vec acc[ROWS][BLOCK] = {{{0}}};
    for (int64_t m = 0; m < maps; ++m)
        for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < K; ++j) {
                const vec wv = splat(w[(m * K + i) * K + j]);
                for (int r = 0; r < rows; ++r) {
                    const float *row = padded + (m * d.rows + y + r + i) * d.width + first * LANES + j;
                    for (int b = 0; b < count; ++b) acc[r][b] += wv * load(row + b * LANES);
                }
            }
    for (int r = 0; r < rows; ++r)
        for (int b = 0; b < count; ++b) store(rows_out + r * d.blocks * LANES + (first + b) * LANES, acc[r][b]);
}

/* Output rows y to y + rows - 1 (rows <= ROWS), every block, into `scratch` (rows x blocks vectors). */
static inline void correlate_rows(const float *padded, int64_t maps, const float *w, int64_t K, padding d, int64_t y,
                                  int rows, float *scratch) {
    int64_t b = 0;
    for (; b + BLOCK <= d.blocks; b += BLOCK) correlate_blocks(padded, maps, w, K, d, y, rows, b, BLOCK, scratch);
    switch (d.blocks - b) {
        case 3: correlate_blocks(padded, maps, w, K, d, y, rows, b, 3, scratch); break;
        case 2: correlate_blocks(padded, maps, w, K, d, y, rows, b, 2, scratch); break;
        case 1: correlate_blocks(padded, maps, w, K, d, y, rows, b, 1, scratch); break;
        default: break;
    }
}

/* One H x W output map: the padded maps correlated with w (maps x K x K); `scratch` holds ROWS
 * rows of `blocks` vectors. */
static void correlate(const float *padded, int64_t maps, const float *w, int64_t K, padding d, float *out,
                      float *scratch) {
    for (int64_t y = 0; y < d.H; y += ROWS) {
        const int rows = d.H - y < ROWS ? (int)(d.H - y) : ROWS;
        if (rows == ROWS)
            correlate_rows(padded, maps, w, K, d, y, ROWS, scratch);
        else
            correlate_rows(padded, maps, w, K, d, y, 1, scratch);
        for (int r = 0; r < rows; ++r) memcpy(out + (y + r) * d.W, scratch + r * d.blocks * LANES, sizeof(float) * d.W);
    }
}

void map_conv(const float *x, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *out, int threads) {
    const padding d = pad_for(H, W, K);
    #pragma omp parallel num_threads(threads)
    {
        float *padded = malloc(sizeof(float) * (M * d.rows * d.width + ROWS * d.blocks * LANES));
        float *scratch = padded + M * d.rows * d.width;
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            pad_maps(x + n * M * H * W, M, d, padded);
            correlate(padded, M, w, K, d, out + n * H * W, scratch);
        }
        free(padded);
    }
}

void map_conv_grad_input(const float *g, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dx, int threads) {
    const padding d = pad_for(H, W, K);
    float *turned = malloc(sizeof(float) * M * K * K);  /* each map's kernel turned 180 degrees */
    for (int64_t m = 0; m < M; ++m)
        for (int64_t t = 0; t < K * K; ++t) turned[m * K * K + t] = w[m * K * K + K * K - 1 - t];
    #pragma omp parallel num_threads(threads)
    {
        float *padded = malloc(sizeof(float) * (d.rows * d.width + ROWS * d.blocks * LANES));
        float *scratch = padded + d.rows * d.width;
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            pad_maps(g + n * H * W, 1, d, padded);
            for (int64_t m = 0; m < M; ++m) correlate(padded, 1, turned + m * K * K, K, d, dx + (n * M + m) * H * W, scratch);
        }
        free(padded);
    }
    free(turned);
}

/* Every tap's share of output row y, blocks `first` to `first + count - 1`: the gradient row's
 * vectors (in registers, count being constant once inlined) times the padded rows y + i shifted by j. */
static inline void weight_taps(const float *padded, const float *grow, int64_t maps, int64_t K, padding d, int64_t y,
                               int64_t first, int count, vec *acc) {
    vec gv[BLOCK];
    for (int b = 0; b < count; ++b) gv[b] = load(grow + (first + b) * LANES);
    for (int64_t m = 0; m < maps; ++m)
        for (int64_t i = 0; i < K; ++i) {
            const float *row = padded + (m * d.rows + y + i) * d.width + first * LANES;
            for (int64_t j = 0; j < K; ++j) {
                vec part = gv[0] * load(row + j);
                for (int b = 1; b < count; ++b) part += gv[b] * load(row + b * LANES + j);
                acc[(m * K + i) * K + j] += part;
            }
        }
}

void map_conv_grad_weight(const float *x, const float *g, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dw, int threads) {
    const padding d = pad_for(H, W, K);
    const int64_t taps = M * K * K;
    double *sums = calloc(taps, sizeof(double));  /* N * H * W terms per tap: a double keeps float's rounding */
    #pragma omp parallel num_threads(threads)
    {
        float *padded = malloc(sizeof(float) * (M * d.rows * d.width + d.blocks * LANES));
        float *grow = padded + M * d.rows * d.width;  /* one gradient row, zero past W */
        vec *acc = aligned_alloc(sizeof(vec), sizeof(vec) * taps);  /* vector loads need the vector's alignment */
        double *mine = calloc(taps, sizeof(double));
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            pad_maps(x + n * M * H * W, M, d, padded);
            memset(grow, 0, sizeof(float) * d.blocks * LANES);
            for (int64_t t = 0; t < taps; ++t) acc[t] = splat(0.0f);
            for (int64_t y = 0; y < H; ++y) {
                memcpy(grow, g + (n * H + y) * W, sizeof(float) * W);
                int64_t b = 0;
                for (; b + BLOCK <= d.blocks; b += BLOCK) weight_taps(padded, grow, M, K, d, y, b, BLOCK, acc);
                switch (d.blocks - b) {
                    case 3: weight_taps(padded, grow, M, K, d, y, b, 3, acc); break;
                    case 2: weight_taps(padded, grow, M, K, d, y, b, 2, acc); break;
                    case 1: weight_taps(padded, grow, M, K, d, y, b, 1, acc); break;
                    default: break;
                }
            }
            for (int64_t t = 0; t < taps; ++t) mine[t] += lane_sum(acc[t]);
        }
        #pragma omp critical
        for (int64_t t = 0; t < taps; ++t) sums[t] += mine[t];
        free(mine);
        free(acc);
        free(padded);
    }
    for (int64_t t = 0; t < taps; ++t) dw[t] = (float)sums[t];
    free(sums);
}
