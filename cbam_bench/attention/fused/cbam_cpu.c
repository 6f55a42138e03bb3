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

void cbam_pool(const float *x, int64_t N, int64_t C, int64_t HW, float *avg, float *mx, int64_t *where_hw, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const float *p = x + row * HW;
        float total = 0.0f, best = -FLT_MAX;
        int64_t at = 0;
        #pragma omp simd reduction(+:total) reduction(max:best)
        for (int64_t i = 0; i < HW; ++i) { total += p[i]; best = p[i] > best ? p[i] : best; }
        /* The first position holding the maximum, as torch's max reports it: a vectorised pass
         * finds the value, a short scan (it stops there) finds the place. */
        while (at < HW - 1 && p[at] != best) ++at;
        avg[row] = total / (float)HW;
        mx[row] = best;
        where_hw[row] = at;
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

void cbam_grad_ms(const float *g, const float *x, const float *mc, int64_t N, int64_t C, int64_t HW, float *d_ms, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        float *d = d_ms + n * HW;
        for (int64_t i = 0; i < HW; ++i) d[i] = 0.0f;
        for (int64_t c = 0; c < C; ++c) {
            const float *gp = g + (n * C + c) * HW, *xp = x + (n * C + c) * HW;
            const float s = mc[n * C + c];
            #pragma omp simd
            for (int64_t i = 0; i < HW; ++i) d[i] += gp[i] * xp[i] * s;
        }
    }
}

/* dL/d(x * mc) at position i of channel c: through the gating, the channel mean and the max. */
static inline float grad_gated(float g, float ms, float d_mean, float d_max, int64_t at, int64_t c, float inv_c) {
    return g * ms + d_mean * inv_c + (at == c ? d_max : 0.0f);
}

void cbam_grad_mc(const float *g, const float *x, const float *ms, const float *d_desc, const int64_t *where_c,
                  int64_t N, int64_t C, int64_t HW, float *d_mc, int threads) {
    const float inv_c = 1.0f / (float)C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * C; ++row) {
        const int64_t n = row / C, c = row % C;
        const float *gp = g + row * HW, *xp = x + row * HW, *m = ms + n * HW;
        const float *d_mean = d_desc + n * 2 * HW, *d_max = d_mean + HW;
        const int64_t *at = where_c + n * HW;
        float total = 0.0f;
        #pragma omp simd reduction(+:total)
        for (int64_t i = 0; i < HW; ++i) total += xp[i] * grad_gated(gp[i], m[i], d_mean[i], d_max[i], at[i], c, inv_c);
        d_mc[row] = total;
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
 * bias), and its two gradients: x: N x M x H x W, w: M x k x k, out and g: N x H x W. Each is a
 * sum of shifted rows scaled by one weight, so the innermost loop runs along a row. */
void map_conv(const float *x, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *out, int threads) {
    const int64_t p = K / 2;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        float *o = out + n * H * W;
        for (int64_t i = 0; i < H * W; ++i) o[i] = 0.0f;
        for (int64_t m = 0; m < M; ++m)
            for (int64_t i = 0; i < K; ++i)
                for (int64_t y = 0; y < H; ++y) {
                    const int64_t yy = y + i - p;
                    if (yy < 0 || yy >= H) continue;
                    const float *row = x + ((n * M + m) * H + yy) * W;
                    float *orow = o + y * W;
                    for (int64_t j = 0; j < K; ++j) {
                        const float wv = w[(m * K + i) * K + j];
                        const int64_t lo = p - j > 0 ? p - j : 0, hi = W + p - j < W ? W + p - j : W;
                        #pragma omp simd
                        for (int64_t c = lo; c < hi; ++c) orow[c] += wv * row[c + j - p];
                    }
                }
    }
}

void map_conv_grad_input(const float *g, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dx, int threads) {
    const int64_t p = K / 2;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t nm = 0; nm < N * M; ++nm) {
        const int64_t n = nm / M, m = nm % M;
        float *d = dx + nm * H * W;
        for (int64_t i = 0; i < H * W; ++i) d[i] = 0.0f;
        for (int64_t i = 0; i < K; ++i)
            for (int64_t yy = 0; yy < H; ++yy) {
                const int64_t y = yy - i + p;
                if (y < 0 || y >= H) continue;
                const float *grow = g + (n * H + y) * W;
                float *drow = d + yy * W;
                for (int64_t j = 0; j < K; ++j) {
                    const float wv = w[(m * K + i) * K + j];
                    const int64_t lo = j - p > 0 ? j - p : 0, hi = W + j - p < W ? W + j - p : W;
                    #pragma omp simd
                    for (int64_t c = lo; c < hi; ++c) drow[c] += wv * grow[c - j + p];
                }
            }
    }
}

void map_conv_grad_weight(const float *x, const float *g, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dw, int threads) {
    const int64_t p = K / 2;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t tap = 0; tap < M * K * K; ++tap) {
        const int64_t m = tap / (K * K), i = (tap / K) % K, j = tap % K;
        const int64_t lo = p - j > 0 ? p - j : 0, hi = W + p - j < W ? W + p - j : W;
        double total = 0.0;  /* N * H * W terms: a double keeps the sum's rounding at float's */
        for (int64_t n = 0; n < N; ++n)
            for (int64_t y = 0; y < H; ++y) {
                const int64_t yy = y + i - p;
                if (yy < 0 || yy >= H) continue;
                const float *row = x + ((n * M + m) * H + yy) * W, *grow = g + (n * H + y) * W;
                float part = 0.0f;
                #pragma omp simd reduction(+:part)
                for (int64_t c = lo; c < hi; ++c) part += grow[c] * row[c + j - p];
                total += part;
            }
        dw[tap] = (float)total;
    }
}
