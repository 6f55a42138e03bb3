/* The spatial gate's k x k convolution of M maps to one ("same" padding p = k / 2, stride 1, no
 * bias), and its two gradients: x: N x M x H x W, w: M x k x k, out and g: N x H x W.
 *
 * Each image is first copied into a zero-padded buffer whose rows are a whole number of vectors
 * wide, so every inner loop runs over full vectors with no edge tests. An output row is then built
 * a few vectors at a time in registers: each of the M * k * k taps adds one weight times a shifted
 * row of the buffer, one load and one multiply-add per vector, and the row is stored once. The
 * gradient for the maps is the same correlation of the padded output gradient with the kernel
 * turned 180 degrees; the gradient for the weight is, per tap, the dot product of the output
 * gradient's rows with the buffer's shifted rows (vectors.h: still plain C). Built into one
 * library with cbam_cpu.c (see cpu.py).
 *
 * Each returns 0, or CBAM_NO_MEMORY when a buffer could not be allocated. A thread whose buffer
 * failed still takes its share of the `omp for` (every thread must) but skips each image, and
 * says so in `failed`, which the function reads after the region's closing barrier. */
#include "vectors.h"
#include "passes.h"

#define BLOCK 4  /* vectors of one output row kept in registers at once */

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

int map_conv(const float *x, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *out, int threads) {
    const padding d = pad_for(H, W, K);
    int failed = 0;
    #pragma omp parallel num_threads(threads)
    {
        float *padded = malloc(sizeof(float) * (M * d.rows * d.width + ROWS * d.blocks * LANES));
        float *scratch = padded ? padded + M * d.rows * d.width : NULL;
        if (!padded) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            if (!padded) continue;
            pad_maps(x + n * M * H * W, M, d, padded);
            correlate(padded, M, w, K, d, out + n * H * W, scratch);
        }
        free(padded);
    }
    return failed ? CBAM_NO_MEMORY : 0;
}

int map_conv_grad_input(const float *g, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dx, int threads) {
    const padding d = pad_for(H, W, K);
    float *turned = malloc(sizeof(float) * M * K * K);  /* each map's kernel turned 180 degrees */
    if (!turned) return CBAM_NO_MEMORY;
    for (int64_t m = 0; m < M; ++m)
        for (int64_t t = 0; t < K * K; ++t) turned[m * K * K + t] = w[m * K * K + K * K - 1 - t];
    int failed = 0;
    #pragma omp parallel num_threads(threads)
    {
        float *padded = malloc(sizeof(float) * (d.rows * d.width + ROWS * d.blocks * LANES));
        float *scratch = padded ? padded + d.rows * d.width : NULL;
        if (!padded) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            if (!padded) continue;
            pad_maps(g + n * H * W, 1, d, padded);
            for (int64_t m = 0; m < M; ++m) correlate(padded, 1, turned + m * K * K, K, d, dx + (n * M + m) * H * W, scratch);
        }
        free(padded);
    }
    free(turned);
    return failed ? CBAM_NO_MEMORY : 0;
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

int map_conv_grad_weight(const float *x, const float *g, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dw, int threads) {
    const padding d = pad_for(H, W, K);
    const int64_t taps = M * K * K;
    double *sums = calloc(taps, sizeof(double));  /* N * H * W terms per tap: a double keeps float's rounding */
    if (!sums) return CBAM_NO_MEMORY;
    int failed = 0;
    #pragma omp parallel num_threads(threads)
    {
        float *padded = malloc(sizeof(float) * (M * d.rows * d.width + d.blocks * LANES));
        float *grow = padded ? padded + M * d.rows * d.width : NULL;  /* one gradient row, zero past W */
        vec *acc = aligned_alloc(sizeof(vec), sizeof(vec) * taps);  /* vector loads need the vector's alignment */
        double *mine = calloc(taps, sizeof(double));
        const int ready = padded && acc && mine;
        if (!ready) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; ++n) {
            if (!ready) continue;
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
        if (ready) {
            #pragma omp critical
            for (int64_t t = 0; t < taps; ++t) sums[t] += mine[t];
        }
        free(mine);
        free(acc);
        free(padded);
    }
    if (!failed)
        for (int64_t t = 0; t < taps; ++t) dw[t] = (float)sums[t];
    free(sums);
    return failed ? CBAM_NO_MEMORY : 0;
}
