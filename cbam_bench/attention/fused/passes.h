/* What one compiled file lends another: cbam_cpu.c's pooling and descriptor, whole or for a run of
 * rows and one image, which mlp_cpu.c's cbam_pool_mlp_describe runs around the channel MLP; and
 * map_conv_cpu.c's convolution, which norm_cpu.c's spatial calls run around the norm. */
#ifndef CBAM_BENCH_PASSES_H
#define CBAM_BENCH_PASSES_H

#include <stdint.h>

void cbam_pool_rows(const float *x, int64_t first, int64_t last, int64_t HW, float *avg, float *mx, int64_t *where);
void cbam_describe_image(const float *x, const float *mc, int64_t C, int64_t HW, float *desc, int32_t *at);
void cbam_pool(const float *x, int64_t N, int64_t C, int64_t HW, float *avg, float *mx, int64_t *where_hw, int threads);
void cbam_describe(const float *x, const float *mc, int64_t N, int64_t C, int64_t HW, float *desc, int32_t *where_c,
                   int threads);

void map_conv(const float *x, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *out, int threads);
void map_conv_grad_input(const float *g, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dx,
                         int threads);
void map_conv_grad_weight(const float *x, const float *g, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dw,
                          int threads);

#endif
