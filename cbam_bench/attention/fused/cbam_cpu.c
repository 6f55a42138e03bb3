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
