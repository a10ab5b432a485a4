// Shared declarations of the splat shaders (prepended to each compute shader by the host).
#define WG 256
// Inclusive Hillis-Steele scan of a shared uint[WG] array, thread t holding element t (all threads call it).
#define BLOCK_SCAN(arr, t) \
    for (uint off_ = 1u; off_ < WG; off_ <<= 1) { \
        uint v_ = (t) >= off_ ? arr[(t) - off_] : 0u; \
        barrier(); \
        arr[t] += v_; \
        barrier(); \
    }
layout(std430, binding = 0) readonly buffer Splats { uvec4 splats[]; };    // 3 per splat
layout(std430, binding = 1) readonly buffer DcTable { uvec2 dc_table[]; }; // half RGB(+pad)
layout(std430, binding = 2) readonly buffer ShTable { uint sh_table[]; };  // halfs, 2 per uint
// 4 per visible splat: (centre, k, opacity) with k^2 = 2 ln(255 o) (alpha = 1/255 there), (conic, tile
// rect min), (rgb, tile rect max), (quad axes)
layout(std430, binding = 3) buffer Projected { vec4 projected[]; };
layout(std430, binding = 4) buffer Counter { uint visible; uint pad0; uint pad1; uint pad2; uint dispatch[4]; uint draw[4]; };
layout(std430, binding = 5) buffer KeysA { uint keys_a[]; };
layout(std430, binding = 6) buffer ValsA { uint vals_a[]; };
layout(std430, binding = 18) buffer TileCount { uint tile_count[]; }; // tiles each visible splat touches

// Tile columns [x, y) of tile row ty that a splat's alpha >= 1/255 ellipse touches, within the columns
// [x0, x1) of its reference tile rect. The ellipse q(d) = a dx^2 + 2b dx dy + c dy^2 <= k^2 (conic
// a, b, c; k^2 = 2 ln(255 o)) meets the band of the row's pixel-centre rows in a convex set whose x
// extremes lie at the ellipse's own extreme rows, clamped into the band. Both the preprocess (counting)
// and the emission call this, so `precise` keeps their arithmetic identical; a margin keeps it
// conservative. Pixel centres are at integers (the reference's convention).
ivec2 tile_row_span(vec2 pc, vec3 conic, float opacity, int ty, int x0, int x1) {
    precise float a = conic.x, b = conic.y, c = conic.z, det = a * c - b * b;
    precise float k2 = max(0.0, 2.0 * log(255.0 * opacity));
    precise float ymax = sqrt(k2 * a / det); // the ellipse's half-height
    precise float u0 = max(float(ty * 16) - pc.y - 0.05, -ymax), u1 = min(float(ty * 16 + 15) - pc.y + 0.05, ymax);
    if (u0 > u1) return ivec2(x0, x0);
    precise float yr = -b * sqrt(k2 / (c * det)); // row of the rightmost point; the leftmost is at -yr
    precise float dr = clamp(yr, u0, u1), dl = clamp(-yr, u0, u1);
    precise float xr = (-b * dr + sqrt(max(0.0, a * k2 - det * dr * dr))) / a;
    precise float xl = (-b * dl - sqrt(max(0.0, a * k2 - det * dl * dl))) / a;
    // clamped to [x0, x1] before the conversion (a huge splat's columns are out of int range)
    int lo = int(clamp(floor(ceil(pc.x + xl - 0.05) / 16.0), float(x0), float(x1)));
    int hi = int(clamp(floor(floor(pc.x + xr + 0.05) / 16.0) + 1.0, float(x0), float(x1)));
    return ivec2(lo, max(hi, lo));
}
