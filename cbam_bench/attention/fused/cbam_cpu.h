/* What cbam_cpu.c lends mlp_cpu.c: the pooling and the descriptor, whole or for one row and one
 * image, which mlp_cpu.c's cbam_pool_mlp_describe runs around the channel MLP. */
#ifndef CBAM_BENCH_CBAM_CPU_H
#define CBAM_BENCH_CBAM_CPU_H

#include <stdint.h>

void cbam_pool_row(const float *p, int64_t HW, float *avg, float *mx, int64_t *where);
void cbam_describe_image(const float *x, const float *mc, int64_t C, int64_t HW, float *desc, int32_t *at);
void cbam_pool(const float *x, int64_t N, int64_t C, int64_t HW, float *avg, float *mx, int64_t *where_hw, int threads);
void cbam_describe(const float *x, const float *mc, int64_t N, int64_t C, int64_t HW, float *desc, int32_t *where_c,
                   int threads);

#endif
