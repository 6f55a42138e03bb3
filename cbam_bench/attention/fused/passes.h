/* What one compiled file lends another: cbam_cpu.c's pooling and descriptor, whole or for a run of
 * rows and one image, which mlp_cpu.c's cbam_pool_mlp_describe runs around the channel MLP;
 * map_conv_cpu.c's convolution, which norm_cpu.c's spatial calls run around the norm; and every
 * pass, which gate_cpu.c runs in order as the whole gate. */
#ifndef CBAM_BENCH_PASSES_H
#define CBAM_BENCH_PASSES_H

#include <stdint.h>

/* What an entry point that allocates scratch returns: 0, or this when an allocation failed (then
 * its outputs are unspecified, and it has freed what it allocated; the caller raises). */
#define CBAM_NO_MEMORY 1

void cbam_pool_rows(const float *x, int64_t first, int64_t last, int64_t HW, float *avg, float *mx, int64_t *where);
void cbam_describe_image(const float *x, const float *mc, int64_t C, int64_t HW, float *desc, int32_t *at);
void cbam_pool(const float *x, int64_t N, int64_t C, int64_t HW, float *avg, float *mx, int64_t *where_hw, int threads);
void cbam_describe(const float *x, const float *mc, int64_t N, int64_t C, int64_t HW, float *desc, int32_t *where_c,
                   int threads);

int map_conv(const float *x, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *out, int threads);
int map_conv_grad_input(const float *g, const float *w, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dx,
                        int threads);
int map_conv_grad_weight(const float *x, const float *g, int64_t N, int64_t M, int64_t H, int64_t W, int64_t K, float *dw,
                         int threads);

void cbam_gate(const float *x, const float *mc, const float *ms, int64_t N, int64_t C, int64_t HW, float *out, int threads);
void cbam_grad_ms(const float *g, const float *x, const float *mc, const float *ms, int64_t N, int64_t C, int64_t HW,
                  float *d_ms, float *gated_share, int threads);
void cbam_grad_mc(const float *gated_share, const float *x, const float *d_desc, const int32_t *where_c, int64_t N,
                  int64_t C, int64_t HW, float *d_mc, int threads);
void cbam_grad_input(const float *g, const float *mc, const float *ms, const float *d_desc, const int32_t *where_c,
                     const float *d_avg, const float *d_mx, const int64_t *where_hw, int64_t N, int64_t C, int64_t HW,
                     float *dx, int threads);

int cbam_pool_mlp_describe(const float *x, int64_t N, int64_t C, int64_t HW, int64_t P, int first_is_max, int64_t Hd,
                           const float *w1, const float *b1, const float *w2, const float *b2, float *avg, float *mx,
                           int64_t *where_hw, float *hidden, float *mc, float *desc, int32_t *where_c, int threads);
int cbam_mlp_backward(const float *p0, const float *p1, int64_t P, int64_t N, int64_t C, int64_t Hd, const float *w1,
                      const float *w2, const float *hidden, const float *mc, const float *d_mc, float *d0, float *d1,
                      float *dw1, float *db1, float *dw2, float *db2, int threads);

/* How the spatial gate normalises: none (the convolution's bias, if any), BatchNorm2d's batch
 * statistics (KEPT: moving the running ones too), or its running statistics. */
enum { NO_NORM, BATCH_STATS, BATCH_STATS_KEPT, RUNNING_STATS };
int cbam_spatial_forward(const float *desc, int64_t N, int64_t H, int64_t W, int64_t K, const float *conv_w, int mode,
                         const float *weight, const float *bias, float *running_mean, float *running_var,
                         int64_t *tracked, double momentum, double eps, float *z, float *ms, double *used, int threads);
int cbam_spatial_backward(const float *d_ms, const float *ms, const float *z, const float *desc, int64_t N, int64_t H,
                          int64_t W, int64_t K, const float *conv_w, int mode, const double *used, float *dz,
                          float *d_weight, float *d_bias, float *d_desc, float *d_conv, int threads);

#endif
