/* Synthetic 3DGS scenes for tests and benchmarks. */
#ifndef GSZ_SYNTH_H
#define GSZ_SYNTH_H
#include "gsz.h"
/* count Gaussians clustered on surfaces (spheres, boxes, a ground plane), log-normal scales flattened
 * along the surface normal, bimodal opacities, smooth colours with full-precision noise in every
 * attribute, SH degree 0-3. Same seed, same scene. */
gsz_error gsz_synth_scene(size_t count, int sh_degree, uint64_t seed, gsz_scene *out);
/* Quantises a scene the way palette formats (SOG) leave it: scales, colours and SH coefficients each
 * snapped to one of 256 values, and the SH vectors to `entries` of their own (sh_palette > 0). */
gsz_error gsz_synth_palettize(gsz_scene *s, size_t entries, uint64_t seed);
/* Appends count Gaussians of an unbounded capture's background (distant surfaces, 15-400 scene units
 * away, and a sky dome at 500-600) to s, as Mip-NeRF 360-style scenes have. */
gsz_error gsz_synth_background(gsz_scene *s, size_t count, uint64_t seed);
/* An indoor capture: a closed room (walls, floor, ceiling) with furniture inside, meant to be seen from
 * inside; from any view outside, the walls hide everything else. */
gsz_error gsz_synth_room(size_t count, int sh_degree, uint64_t seed, gsz_scene *out);
#endif
