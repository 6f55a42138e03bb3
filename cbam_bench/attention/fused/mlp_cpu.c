/* The channel gate's MLP and sigmoid on the compiled CPU path (gate_cpu.c), forward and backward;
 * the forward runs inside the pooling and descriptor pass. Inside a training
 * step each small torch operator cost 10-35 us, whatever its size (2-4 us called again at once),
 * and the MLP's were a dozen of them per gate. Built into one library with cbam_cpu.c (see cpu.py).
 *
 * The P pooled vectors of each image (P = 1 or 2, in the gate's pooling order) are rows
 * r = p * N + n of `pooled`, each of C values; w1: Hd x C, b1: Hd, w2: C x Hd, b2: C (a bias may be
 * NULL); hidden: rows x Hd after the ReLU; mc, d_mc: N x C. */
#include "vectors.h"
#include "passes.h"

static float dot(const float *a, const float *b, int64_t n) {
    vec acc[2] = {splat(0.0f), splat(0.0f)};
    int64_t i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES)
        for (int k = 0; k < 2; ++k) acc[k] += load(a + i + k * LANES) * load(b + i + k * LANES);
    float total = lane_sum(acc[0] + acc[1]);
    for (; i < n; ++i) total += a[i] * b[i];
    return total;
}

static const float *row_of(const float *p0, const float *p1, int64_t r, int64_t N, int64_t C) {
    return r < N ? p0 + r * C : p1 + (r - N) * C;
}

/* The dot products of one weight row with two vectors (b may be NULL), reading the row once. */
static void dot2(const float *w, const float *a, const float *b, int64_t n, float *out_a, float *out_b) {
    vec acc_a = splat(0.0f), acc_b = splat(0.0f);
    int64_t i = 0;
    if (b)
        for (; i + LANES <= n; i += LANES) {
            const vec v = load(w + i);
            acc_a += v * load(a + i), acc_b += v * load(b + i);
        }
    float ta = lane_sum(acc_a), tb = lane_sum(acc_b);
    if (!b) ta = dot(w, a, n);
    else
        for (; i < n; ++i) ta += w[i] * a[i], tb += w[i] * b[i];
    *out_a = ta, *out_b = tb;
}

/* One image's MLP: its pooled vectors v0 and v1 (NULL with one pool) to the hidden rows h0, h1
 * after the ReLU, and its row of Mc. The second layer is linear, so the pools' outputs sum to
 * W2 (h0 + h1) + P b2. */
static void mlp_image(const float *v0, const float *v1, int64_t C, int64_t Hd, const float *w1, const float *b1,
                      const float *w2, const float *b2, float *h0, float *h1, float *mc) {
    float summed[Hd];
    for (int64_t j = 0; j < Hd; ++j) {
        float a, b;
        dot2(w1 + j * C, v0, v1, C, &a, &b);
        const float bias = b1 ? b1[j] : 0.0f;
        a += bias, b += bias;
        h0[j] = a > 0.0f ? a : 0.0f;
        if (v1) h1[j] = b > 0.0f ? b : 0.0f;
        summed[j] = h0[j] + (v1 ? h1[j] : 0.0f);
    }
    const float pools = v1 ? 2.0f : 1.0f;
    for (int64_t c = 0; c < C; ++c) mc[c] = (b2 ? pools * b2[c] : 0.0f) + dot(w2 + c * Hd, summed, Hd);
    sigmoid_row(mc, mc, C);
}

/* out[a][b] = the dot product of weight row a with vector b, for na (<= 2) rows of w (row
 * length and stride n) and nb (<= 4) vectors: each load feeds two or four multiply-adds, into
 * eight independent sums (one dot product alone waits on its own adds). Inlined with constant
 * counts, the sums stay in registers. */
static inline void dot_block(const float *w, int na, const float *const *v, int nb, int64_t n, float out[2][4]) {
    vec acc[2][4];
    for (int a = 0; a < na; ++a)
        for (int b = 0; b < nb; ++b) acc[a][b] = splat(0.0f);
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        vec x[2];
        for (int a = 0; a < na; ++a) x[a] = load(w + a * n + i);
        for (int b = 0; b < nb; ++b) {
            const vec y = load(v[b] + i);
            for (int a = 0; a < na; ++a) acc[a][b] += x[a] * y;
        }
    }
    for (int a = 0; a < na; ++a)
        for (int b = 0; b < nb; ++b) {
            float total = lane_sum(acc[a][b]);
            for (int64_t k = i; k < n; ++k) total += w[a * n + k] * v[b][k];
            out[a][b] = total;
        }
}

/* out[r * ldo + a] = weight row a (of A, each n long) . vector r (of R, at v[r]), spread over
 * threads by pairs of weight rows. */
static void products(const float *w, int64_t A, int64_t n, const float *const *v, int64_t R, float *out, int64_t ldo,
                     int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t a = 0; a < A; a += 2) {
        const int na = A - a < 2 ? 1 : 2;
        for (int64_t r = 0; r < R; r += 4) {
            const int nb = R - r < 4 ? (int)(R - r) : 4;
            float part[2][4];
            if (na == 2 && nb == 4) dot_block(w + a * n, 2, v + r, 4, n, part);
            else if (na == 2 && nb == 2) dot_block(w + a * n, 2, v + r, 2, n, part);  /* one image's two pools */
            else if (na == 2 && nb == 1) dot_block(w + a * n, 2, v + r, 1, n, part);
            else dot_block(w + a * n, na, v + r, nb, n, part);
            for (int i = 0; i < na; ++i)
                for (int b = 0; b < nb; ++b) out[(r + b) * ldo + a + i] = part[i][b];
        }
    }
}

/* The MLP for all images at once, each weight row read once for every pooled vector: where the
 * weights outweigh an image (deep stages), re-reading them image by image costs more than the
 * second read of the map that it saves. Both layers as products() (alone, 8x2048 with hidden
 * width 128: 209 us against 315 us as one dot product at a time, one thread; 107 against 161, two).
 * 0, or CBAM_NO_MEMORY before anything is written. */
static int mlp_batched(const float *p0, const float *p1, int64_t P, int64_t N, int64_t C, int64_t Hd,
                       const float *w1, const float *b1, const float *w2, const float *b2, float *hidden, float *mc,
                       int threads) {
    const int64_t rows = P * N;
    const float **vectors = malloc(sizeof(float *) * rows);
    float *summed = malloc(sizeof(float) * N * Hd);
    if (!vectors || !summed) {
        free(summed), free(vectors);
        return CBAM_NO_MEMORY;
    }
    for (int64_t r = 0; r < rows; ++r) vectors[r] = row_of(p0, p1, r, N, C);
    products(w1, Hd, C, vectors, rows, hidden, Hd, threads);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < Hd; ++j) {
            const float h = hidden[r * Hd + j] + (b1 ? b1[j] : 0.0f);
            hidden[r * Hd + j] = h > 0.0f ? h : 0.0f;
        }
    for (int64_t i = 0; i < N * Hd; ++i) summed[i] = hidden[i] + (P > 1 ? hidden[N * Hd + i] : 0.0f);
    for (int64_t n = 0; n < N; ++n) vectors[n] = summed + n * Hd;
    products(w2, C, Hd, vectors, N, mc, C, threads);
    free(summed), free(vectors);
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        float *row = mc + n * C;
        for (int64_t c = 0; b2 && c < C; ++c) row[c] += (float)P * b2[c];
        sigmoid_row(row, row, C);
    }
    return 0;
}

/* The whole forward up to the descriptor: pool every channel, run the MLP on the P pooled vectors
 * (the first the max when first_is_max), then the channel mean and max of x * Mc. Image by image
 * while the image is in cache where the two weight matrices are smaller than an image (2 Hd <= HW),
 * so the map is read once; else in three passes with the MLP batched. (Alone, one thread, this
 * makes the gate 5-6 % faster at 32x256x14x14 and 8x512x28x28 and changes nothing at smaller maps;
 * inside a training step the two ways measured the same.) Outputs as cbam_pool, cbam_describe and the MLP's hidden
 * rows; returns 0, or CBAM_NO_MEMORY if the batched MLP's scratch could not be allocated. */
int cbam_pool_mlp_describe(const float *x, int64_t N, int64_t C, int64_t HW, int64_t P, int first_is_max, int64_t Hd,
                           const float *w1, const float *b1, const float *w2, const float *b2, float *avg, float *mx,
                           int64_t *where_hw, float *hidden, float *mc, float *desc, int32_t *where_c, int threads) {
    const float *first = first_is_max ? mx : avg, *second = P > 1 ? (first_is_max ? avg : mx) : NULL;
    if (2 * Hd > HW) {
        cbam_pool(x, N, C, HW, avg, mx, where_hw, threads);
        const int status = mlp_batched(first, second, P, N, C, Hd, w1, b1, w2, b2, hidden, mc, threads);
        if (status) return status;
        cbam_describe(x, mc, N, C, HW, desc, where_c, threads);
        return 0;
    }
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
        const float *image = x + n * C * HW;
        const int64_t at = n * C;
        cbam_pool_rows(image, 0, C, HW, avg + at, mx + at, where_hw + at);
        mlp_image(first + at, second ? second + at : NULL, C, Hd, w1, b1, w2, b2, hidden + n * Hd, hidden + (N + n) * Hd, mc + at);
        cbam_describe_image(image, mc + at, C, HW, desc + n * 2 * HW, where_c + n * HW);
    }
    return 0;
}

/* out[a][i] = the sum over k < K of coef[a * ca + k * ck] * m[k * ldm + i], for output rows
 * a .. a + na - 1 and the nv vectors from i on, all in registers: each vector of m loaded feeds na
 * multiply-adds, and no output is read back. */
#define ROWS_AT_ONCE 4
#ifdef __AVX512VL__  /* 32 vector registers: 16 sums, and each coefficient broadcast feeds four vectors */
#define VECS_AT_ONCE 4  /* alone, 8x2048 with hidden width 128, one thread: 564 -> 470 us for the four */
#else
#define VECS_AT_ONCE 2  /* 16 registers: 8 sums and what they are made from */
#endif
static inline void combine_block(const float *coef, int64_t ca, int64_t ck, const float *m, int64_t ldm, int64_t K,
                                 float *const *out, int64_t a, int na, int64_t i, int nv) {
    vec acc[ROWS_AT_ONCE][VECS_AT_ONCE];
    for (int r = 0; r < na; ++r)
        for (int v = 0; v < nv; ++v) acc[r][v] = splat(0.0f);
    for (int64_t k = 0; k < K; ++k) {
        vec row[VECS_AT_ONCE];
        for (int v = 0; v < nv; ++v) row[v] = load(m + k * ldm + i + v * LANES);
        for (int r = 0; r < na; ++r) {
            const vec s = splat(coef[(a + r) * ca + k * ck]);
            for (int v = 0; v < nv; ++v) acc[r][v] += s * row[v];
        }
    }
    for (int r = 0; r < na; ++r)
        for (int v = 0; v < nv; ++v) store(out[a + r] + i + v * LANES, acc[r][v]);
}

/* The A rows out[a] (each `len` long) of a small matrix product, as combine_block says, spread
 * over threads by blocks of rows and spans of columns. */
static void combine(const float *coef, int64_t ca, int64_t ck, const float *m, int64_t ldm, int64_t K, int64_t A,
                    int64_t len, float *const *out, int threads) {
    const int64_t step = VECS_AT_ONCE * LANES, blocks = (A + ROWS_AT_ONCE - 1) / ROWS_AT_ONCE;
    const int64_t spans = (len + step - 1) / step;
    #pragma omp parallel for collapse(2) num_threads(threads) schedule(static)
    for (int64_t b = 0; b < blocks; ++b)
        for (int64_t s = 0; s < spans; ++s) {
            const int64_t a = b * ROWS_AT_ONCE, i = s * step;
            const int na = A - a < ROWS_AT_ONCE ? (int)(A - a) : ROWS_AT_ONCE;
            if (i + step <= len) {
                if (na == ROWS_AT_ONCE) combine_block(coef, ca, ck, m, ldm, K, out, a, ROWS_AT_ONCE, i, VECS_AT_ONCE);
                else combine_block(coef, ca, ck, m, ldm, K, out, a, na, i, VECS_AT_ONCE);
                continue;
            }
            int64_t j = i;  /* the last, shorter span: whole vectors, then one by one */
            for (; j + LANES <= len; j += LANES) combine_block(coef, ca, ck, m, ldm, K, out, a, na, j, 1);
            for (; j < len; ++j)
                for (int r = 0; r < na; ++r) {
                    float total = 0.0f;
                    for (int64_t k = 0; k < K; ++k) total += coef[(a + r) * ca + k * ck] * m[k * ldm + j];
                    out[a + r][j] = total;
                }
        }
}

/* `count` row pointers: base + r * ld; NULL if they could not be allocated. */
static float **rows_at(float *base, int64_t ld, int64_t count) {
    float **rows = malloc(sizeof(float *) * count);
    if (!rows) return NULL;
    for (int64_t r = 0; r < count; ++r) rows[r] = base + r * ld;
    return rows;
}

/* d0, d1: dL/d(pooled rows), like p0, p1; dw1 .. db2 like the weights (a bias's NULL if it has none).
 * Each of the four products is a combine(): through W2 to the hidden layer, W2's gradient from each
 * image's hidden rows summed over its pools, W1's, and the pooled vectors'. Returns 0, or
 * CBAM_NO_MEMORY if a buffer could not be allocated (the gradients then unspecified). */
int cbam_mlp_backward(const float *p0, const float *p1, int64_t P, int64_t N, int64_t C, int64_t Hd,
                      const float *w1, const float *w2, const float *hidden, const float *mc, const float *d_mc,
                      float *d0, float *d1, float *dw1, float *db1, float *dw2, float *db2, int threads) {
    const int64_t rows = P * N;
    int status = CBAM_NO_MEMORY;  /* until every buffer is there and the products done */
    float *d_logit = malloc(sizeof(float) * N * C), *d_hidden = malloc(sizeof(float) * rows * Hd);
    float *summed = malloc(sizeof(float) * N * Hd), *stacked = malloc(sizeof(float) * rows * C);
    float **out = NULL;
    if (!d_logit || !d_hidden || !summed || !stacked) goto done;
    for (int64_t i = 0; i < N * C; ++i) d_logit[i] = d_mc[i] * mc[i] * (1.0f - mc[i]);
    memcpy(stacked, p0, sizeof(float) * N * C);
    if (P > 1) memcpy(stacked + N * C, p1, sizeof(float) * N * C);
    out = rows_at(d_hidden, Hd, N);
    if (!out) goto done;
    combine(d_logit, C, 1, w2, Hd, C, N, Hd, out, threads);  /* the first pool's rows, before the ReLUs */
    free(out);
    for (int64_t i = 0; i < N * Hd; ++i) {  /* then through each pool's ReLU */
        summed[i] = hidden[i] + (P > 1 ? hidden[N * Hd + i] : 0.0f);
        if (P > 1) d_hidden[N * Hd + i] = hidden[N * Hd + i] > 0.0f ? d_hidden[i] : 0.0f;
        d_hidden[i] = hidden[i] > 0.0f ? d_hidden[i] : 0.0f;
    }
    out = rows_at(dw2, Hd, C);
    if (!out) goto done;
    combine(d_logit, 1, C, summed, Hd, N, C, Hd, out, threads);
    free(out);
    out = rows_at(dw1, C, Hd);
    if (!out) goto done;
    combine(d_hidden, 1, Hd, stacked, C, rows, Hd, C, out, threads);
    free(out);
    out = malloc(sizeof(float *) * rows);
    if (!out) goto done;
    for (int64_t r = 0; r < rows; ++r) out[r] = (float *)row_of(d0, d1, r, N, C);
    combine(d_hidden, Hd, 1, w1, C, Hd, rows, C, out, threads);
    free(out);
    for (int64_t c = 0; db2 && c < C; ++c) {
        float bias = 0.0f;
        for (int64_t n = 0; n < N; ++n) bias += d_logit[n * C + c];
        db2[c] = (float)P * bias;
    }
    for (int64_t j = 0; db1 && j < Hd; ++j) {
        float bias = 0.0f;
        for (int64_t r = 0; r < rows; ++r) bias += d_hidden[r * Hd + j];
        db1[j] = bias;
    }
    status = 0;
done:
    free(summed), free(stacked), free(d_logit), free(d_hidden);
    return status;
}
