/* Vectors of LANES floats through GCC's and Clang's vector extensions, shared by the CBAM passes
 * (cbam_cpu.c) and the spatial convolution (map_conv_cpu.c). On a CPU without 8-wide registers the
 * compiler splits them into narrower ones; loads and stores go through memcpy, so no address
 * needs the vector's alignment. */
#ifndef CBAM_BENCH_VECTORS_H
#define CBAM_BENCH_VECTORS_H

#include <stdint.h>
#include <stdlib.h>
#include <float.h>
#include <string.h>

#define LANES 8
typedef float vec __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t lanes __attribute__((vector_size(LANES * sizeof(int32_t))));  /* a vector comparison's result */

static inline vec load(const float *p) { vec v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vec v) { memcpy(p, &v, sizeof v); }
static inline vec splat(float s) { vec v = {0}; return v + s; }
static inline float lane_sum(vec v) { float t = 0.0f; for (int i = 0; i < LANES; ++i) t += v[i]; return t; }

#endif
