/* Vectors of LANES floats through GCC's and Clang's vector extensions, shared by the CBAM passes
 * (cbam_cpu.c) and the spatial convolution (map_conv_cpu.c). On a CPU without 8-wide registers the
 * compiler splits them into narrower ones; loads and stores go through memcpy, so no address
 * needs the vector's alignment. */
#ifndef CBAM_BENCH_VECTORS_H
#define CBAM_BENCH_VECTORS_H

#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#define LANES 8
typedef float vec __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t lanes __attribute__((vector_size(LANES * sizeof(int32_t))));  /* a vector comparison's result */

static inline vec load(const float *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vec v) { memcpy(p, &v, sizeof v); }
static inline vec splat(float s) { vec v = {0}; return v + s; }
static inline float lane_sum(vec v) { float t = 0.0f; for (int i = 0; i < LANES; ++i) t += v[i]; return t; }
static inline vec pick(lanes where, vec a, vec b) { return (vec)(((lanes)a & where) | ((lanes)b & ~where)); }

/* e^x lane-wise: x = k ln 2 + r with k an integer and |r| <= ln 2 / 2, e^r by Cephes' expf
 * polynomial (about 1 ulp), 2^k built in the exponent bits; x is clamped where 2^k would not fit. */
static inline vec exp_lanes(vec x) {
    x = pick(x > splat(88.0f), splat(88.0f), x);
    x = pick(x < splat(-87.0f), splat(-87.0f), x);
    const vec shifter = splat(12582912.0f);  /* 1.5 * 2^23: adding it rounds to an integer */
    const vec t = x * splat(1.44269504088896341f) + shifter;
    const vec k = t - shifter;
    const vec r = x - k * splat(0.693359375f) - k * splat(-2.12194440e-4f);
    vec p = splat(1.9875691500e-4f);
    p = p * r + splat(1.3981999507e-3f);
    p = p * r + splat(8.3334519073e-3f);
    p = p * r + splat(4.1665795894e-2f);
    p = p * r + splat(1.6666665459e-1f);
    p = p * r + splat(5.0000001201e-1f);
    p = p * r * r + r + splat(1.0f);
    const lanes exponent = ((lanes)t - (lanes)shifter + 127) << 23;
    return p * (vec)exponent;
}

/* 1 / (1 + e^-x) over n values, in place allowed. */
static inline void sigmoid_row(const float *x, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) store(out + i, splat(1.0f) / (splat(1.0f) + exp_lanes(-load(x + i))));
    if (i < n) {  /* the tail through a zero-padded vector */
        float part[LANES] = {0};
        memcpy(part, x + i, sizeof(float) * (n - i));
        const vec v = splat(1.0f) / (splat(1.0f) + exp_lanes(-load(part)));
        memcpy(out + i, &v, sizeof(float) * (n - i));
    }
}

#endif
