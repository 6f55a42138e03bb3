/* The spatial gate's one-channel BatchNorm and sigmoid on the compiled CPU path (gate_cpu.c),
 * forward and backward, with BatchNorm2d's semantics. z, ms, d_ms, dz: N x HW, the
 * spatial convolution's output and the map; `used` holds the mean, 1 / std and weight / std the
 * forward used, for the backward. cbam_spatial_forward and cbam_spatial_backward run the spatial gate
 * after its descriptor, convolution included, each way. Built into one
 * library with cbam_cpu.c (see cpu.py). */
#include <math.h>

#include "vectors.h"
#include "passes.h"

/* Sum over the row of (v - cv) * (w - cw), or of v - cv when w is NULL. */
static float centred_dot(const float *v, float cv, const float *w, float cw, int64_t n) {
    vec acc[2] = {splat(0.0f), splat(0.0f)};
    int64_t i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES)
        for (int k = 0; k < 2; ++k) {
            const vec d = load(v + i + k * LANES) - cv;
            acc[k] += w ? d * (load(w + i + k * LANES) - cw) : d;
        }
    float total = lane_sum(acc[0] + acc[1]);
    for (; i < n; ++i) total += w ? (v[i] - cv) * (w[i] - cw) : v[i] - cv;
    return total;
}

/* Ms = sigmoid((z - mean) * weight / std + bias), as BatchNorm2d in `mode`: the batch's own biased
 * statistics (BATCH_STATS_KEPT also moves the running ones, by `momentum`, or by 1 / batches seen
 * when momentum < 0, with the unbiased variance) or the running ones; NO_NORM adds the convolution's
 * bias (NULL: none). */
static void cbam_norm_sigmoid(const float *z, int64_t N, int64_t HW, int mode, const float *weight, const float *bias,
                       float *running_mean, float *running_var, int64_t *tracked, double momentum, double eps,
                       float *ms, double *used, int threads) {
    const int64_t count = N * HW;
    double mean = 0.0, var = 1.0 - eps, total = 0.0, squares = 0.0;
    if (mode == BATCH_STATS || mode == BATCH_STATS_KEPT) {
        #pragma omp parallel for num_threads(threads) reduction(+:total) schedule(static)
        for (int64_t n = 0; n < N; ++n) total += centred_dot(z + n * HW, 0.0f, NULL, 0.0f, HW);
        mean = total / (double)count;
        #pragma omp parallel for num_threads(threads) reduction(+:squares) schedule(static)
        for (int64_t n = 0; n < N; ++n) squares += centred_dot(z + n * HW, (float)mean, z + n * HW, (float)mean, HW);
        var = squares / (double)count;
    } else if (mode == RUNNING_STATS) {
        mean = running_mean[0], var = running_var[0];
    }
    if (mode == BATCH_STATS_KEPT) {
        double factor = momentum;
        if (tracked) {
            ++*tracked;
            if (momentum < 0.0) factor = 1.0 / (double)*tracked;
        }
        running_mean[0] = (float)((1.0 - factor) * running_mean[0] + factor * mean);
        running_var[0] = (float)((1.0 - factor) * running_var[0] + factor * var * count / (count - 1));
    }
    const double inv_std = 1.0 / sqrt(var + eps);
    const double scale = mode == NO_NORM ? 1.0 : weight[0] * inv_std;
    const double shift = mode == NO_NORM ? (bias ? bias[0] : 0.0) : bias[0] - mean * scale;
    used[0] = mean, used[1] = inv_std, used[2] = scale;
    const float fs = (float)scale, fh = (float)shift;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        float *out = ms + n * HW;
        const float *in = z + n * HW;
        #pragma omp simd
        for (int64_t i = 0; i < HW; ++i) out[i] = in[i] * fs + fh;
        sigmoid_row(out, out, HW);
    }
}

/* dL/dz from dL/dMs, and the norm's weight and bias gradients (or, with NO_NORM, the convolution's
 * bias gradient in d_bias; a NULL gradient is not wanted). With the batch's statistics the norm
 * couples every position: dz = scale * (dy - mean(dy) - (z - mean) / var * mean(dy * (z - mean))). */
static void cbam_norm_sigmoid_grad(const float *d_ms, const float *ms, const float *z, int64_t N, int64_t HW, int mode,
                            const double *used, float *dz, float *d_weight, float *d_bias, int threads) {
    const double mean = used[0], inv_std = used[1], scale = used[2];
    double plain = 0.0, centred = 0.0;
    #pragma omp parallel for num_threads(threads) reduction(+:plain, centred) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        const int64_t at = n * HW;
        #pragma omp simd
        for (int64_t i = at; i < at + HW; ++i) dz[i] = d_ms[i] * ms[i] * (1.0f - ms[i]);
        plain += centred_dot(dz + at, 0.0f, NULL, 0.0f, HW);
        centred += centred_dot(z + at, (float)mean, dz + at, 0.0f, HW);
    }
    if (d_bias) d_bias[0] = (float)plain;
    if (d_weight) d_weight[0] = (float)(centred * inv_std);
    if (mode == NO_NORM) return;
    const int coupled = mode == BATCH_STATS || mode == BATCH_STATS_KEPT;
    const double count = (double)(N * HW);
    const float a = (float)scale, b = coupled ? (float)(-scale * plain / count) : 0.0f;
    const float c = coupled ? (float)(-scale * centred * inv_std * inv_std / count) : 0.0f, m = (float)mean;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        #pragma omp simd
        for (int64_t i = n * HW; i < (n + 1) * HW; ++i) dz[i] = a * dz[i] + b + c * (z[i] - m);
    }
}

/* The spatial gate from its 2-map descriptor (N x 2 x H x W) on: the K x K convolution to z, then
 * Ms as cbam_norm_sigmoid makes it. 0, or the convolution's CBAM_NO_MEMORY, and then the running
 * statistics are left as they were: z is not made, and the norm must not learn from it. */
int cbam_spatial_forward(const float *desc, int64_t N, int64_t H, int64_t W, int64_t K, const float *conv_w, int mode,
                         const float *weight, const float *bias, float *running_mean, float *running_var,
                         int64_t *tracked, double momentum, double eps, float *z, float *ms, double *used, int threads) {
    const int status = map_conv(desc, conv_w, N, 2, H, W, K, z, threads);
    if (status) return status;
    cbam_norm_sigmoid(z, N, H * W, mode, weight, bias, running_mean, running_var, tracked, momentum, eps, ms, used, threads);
    return 0;
}

/* Its backward: dL/dz as cbam_norm_sigmoid_grad makes it (dz, and the norm's or the bias's
 * gradients), then the convolution's gradients for the descriptor and the kernel. 0, or the
 * first CBAM_NO_MEMORY of the two convolutions. */
int cbam_spatial_backward(const float *d_ms, const float *ms, const float *z, const float *desc, int64_t N, int64_t H,
                          int64_t W, int64_t K, const float *conv_w, int mode, const double *used, float *dz,
                          float *d_weight, float *d_bias, float *d_desc, float *d_conv, int threads) {
    cbam_norm_sigmoid_grad(d_ms, ms, z, N, H * W, mode, used, dz, d_weight, d_bias, threads);
    const int status = map_conv_grad_input(dz, conv_w, N, 2, H, W, K, d_desc, threads);
    if (status) return status;
    return map_conv_grad_weight(desc, dz, N, 2, H, W, K, d_conv, threads);
}
