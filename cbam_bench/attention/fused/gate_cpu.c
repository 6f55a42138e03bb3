/* The whole CBAM gate on the compiled CPU path, one call forward and one backward (explicit.py,
 * through gate_cpu.py): the passes of cbam_cpu.c, mlp_cpu.c, norm_cpu.c and map_conv_cpu.c in
 * order, with everything the backward needs kept in one `state` buffer the caller allocates.
 * Inside a training step each torch operator and each call out of Python cost several times what
 * it costs called again at once (between two gates the backbone has taken the caches). As eight
 * calls, each with the tensors it fills, the Python around the compiled work took about 0.45 ms per
 * gate of a resnet50 112x112 step (batch 8, two threads), against 0.7 ms of compiled work; as these
 * two, 0.3 ms. Built into one library with cbam_cpu.c (cpu.py).
 *
 * x, g, out, dx: N x C x H x W, float32, contiguous; P pooled vectors (1 or 2), the first the max
 * when first_is_max; w1: Hd x C, w2: C x Hd (biases may be NULL); conv_w: 2 x K x K; the norm as
 * cbam_norm_sigmoid takes it (mode, weight, bias, running statistics; NO_NORM: conv_b). */
#include "vectors.h"
#include "passes.h"

/* Where each saved piece sits in the state: the statistics the norm used (3 doubles), then
 * where_hw (int64), then the float maps, each on a 64-byte boundary, as torch allocates (a map
 * that starts mid-line splits every other vector load over two cache lines: misaligned, dL/dx
 * took 1.7 times as long at 8x512x28x28). */
typedef struct {
    double *used;
    int64_t *where_hw;
    float *avg, *mx, *mc, *hidden, *desc, *z, *ms;
    int32_t *where_c;
    int64_t floats;  /* the state's size in floats */
} layout;

#define LINE_FLOATS 16  /* a 64-byte cache line */

/* The next `count` floats of the buffer from *at, moving *at on to the next line. */
static float *next_piece(float *base, int64_t *at, int64_t count) {
    float *piece = base ? base + *at : NULL;
    *at += (count + LINE_FLOATS - 1) / LINE_FLOATS * LINE_FLOATS;
    return piece;
}

static layout state_layout(float *base, int64_t N, int64_t C, int64_t HW, int64_t P, int64_t Hd) {
    layout s;
    int64_t at = 0;
    s.used = (double *)next_piece(base, &at, 6);
    s.where_hw = (int64_t *)next_piece(base, &at, 2 * N * C);
    s.avg = next_piece(base, &at, N * C);
    s.mx = next_piece(base, &at, N * C);
    s.mc = next_piece(base, &at, N * C);
    s.hidden = next_piece(base, &at, P * N * Hd);
    s.desc = next_piece(base, &at, 2 * N * HW);
    s.where_c = (int32_t *)next_piece(base, &at, N * HW);
    s.z = next_piece(base, &at, N * HW);
    s.ms = next_piece(base, &at, N * HW);
    s.floats = at;
    return s;
}

/* The backward's own maps, laid out the same way. */
typedef struct {
    float *d_ms, *dz, *d_desc, *gated_share, *d_mc, *d_avg, *d_mx;
    int64_t floats;
} scratch_maps;

static scratch_maps scratch_layout(float *base, int64_t N, int64_t C, int64_t HW) {
    scratch_maps t;
    int64_t at = 0;
    t.d_ms = next_piece(base, &at, N * HW);
    t.dz = next_piece(base, &at, N * HW);
    t.d_desc = next_piece(base, &at, 2 * N * HW);
    t.gated_share = next_piece(base, &at, N * C);
    t.d_mc = next_piece(base, &at, N * C);
    t.d_avg = next_piece(base, &at, N * C);
    t.d_mx = next_piece(base, &at, N * C);
    t.floats = at;
    return t;
}

int64_t cbam_gate_state_floats(int64_t N, int64_t C, int64_t HW, int64_t P, int64_t Hd) {
    return state_layout(NULL, N, C, HW, P, Hd).floats;
}

/* 0, or CBAM_NO_MEMORY from the first pass that could not allocate, the passes after it not run: the
 * norm's running statistics move only once the convolution has made z. */
int cbam_gate_forward(const float *x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int first_is_max,
                      int64_t Hd, const float *w1, const float *b1, const float *w2, const float *b2, int64_t K,
                      const float *conv_w, const float *conv_b, int mode, const float *norm_w, const float *norm_b,
                      float *running_mean, float *running_var, int64_t *tracked, double momentum, double eps,
                      float *state, float *out, int threads) {
    const int64_t HW = H * W;
    const layout s = state_layout(state, N, C, HW, P, Hd);
    int status = cbam_pool_mlp_describe(x, N, C, HW, P, first_is_max, Hd, w1, b1, w2, b2, s.avg, s.mx, s.where_hw,
                                        s.hidden, s.mc, s.desc, s.where_c, threads);
    if (status) return status;
    const float *bias = mode == NO_NORM ? conv_b : norm_b;
    status = cbam_spatial_forward(s.desc, N, H, W, K, conv_w, mode, norm_w, bias, running_mean, running_var, tracked,
                                  momentum, eps, s.z, s.ms, s.used, threads);
    if (status) return status;
    cbam_gate(x, s.mc, s.ms, N, C, HW, out, threads);
    return 0;
}

/* dx (NULL: not wanted) and every parameter's gradient: W1, b1, W2, b2 (NULL where the layer has
 * no bias), the convolution's weight, then the norm's weight and bias, or with NO_NORM the
 * convolution's bias in d_norm_b (NULL: none). 0, or CBAM_NO_MEMORY from the first pass that could
 * not allocate (the gradients then unspecified). */
int cbam_gate_backward(const float *g, const float *x, float *state, int64_t N, int64_t C, int64_t H, int64_t W,
                       int64_t P, int first_is_max, int64_t Hd, const float *w1, const float *w2, int64_t K,
                       const float *conv_w, int mode, float *dx, float *d_w1, float *d_b1, float *d_w2, float *d_b2,
                       float *d_conv, float *d_norm_w, float *d_norm_b, int threads) {
    const int64_t HW = H * W;
    const layout s = state_layout(state, N, C, HW, P, Hd);
    const int64_t floats = scratch_layout(NULL, N, C, HW).floats;
    float *scratch = aligned_alloc(sizeof(float) * LINE_FLOATS, sizeof(float) * floats);
    if (!scratch) return CBAM_NO_MEMORY;
    const scratch_maps t = scratch_layout(scratch, N, C, HW);
    float *d_first = first_is_max ? t.d_mx : t.d_avg, *d_second = first_is_max ? t.d_avg : t.d_mx;
    cbam_grad_ms(g, x, s.mc, s.ms, N, C, HW, t.d_ms, t.gated_share, threads);
    int status = cbam_spatial_backward(t.d_ms, s.ms, s.z, s.desc, N, H, W, K, conv_w, mode, s.used, t.dz,
                                       mode == NO_NORM ? NULL : d_norm_w, d_norm_b, t.d_desc, d_conv, threads);
    if (status) {
        free(scratch);
        return status;
    }
    cbam_grad_mc(t.gated_share, x, t.d_desc, s.where_c, N, C, HW, t.d_mc, threads);
    const float *first = first_is_max ? s.mx : s.avg, *second = first_is_max ? s.avg : s.mx;
    memset(d_second, 0, sizeof(float) * N * C);  /* stays zero with one pool */
    status = cbam_mlp_backward(first, P > 1 ? second : NULL, P, N, C, Hd, w1, w2, s.hidden, s.mc, t.d_mc, d_first,
                               P > 1 ? d_second : NULL, d_w1, d_b1, d_w2, d_b2, threads);
    if (!status && dx)
        cbam_grad_input(g, s.mc, s.ms, t.d_desc, s.where_c, t.d_avg, t.d_mx, s.where_hw, N, C, HW, dx, threads);
    free(scratch);
    return status;
}
