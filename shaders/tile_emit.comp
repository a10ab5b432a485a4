// Compute rasteriser: one (tile, splat) pair per tile a splat's ellipse touches (tile_row_span),
// emitted in depth order, so a stable sort by tile leaves each tile's list front to back.
layout(local_size_x = WG) in;
layout(std430, binding = 13) readonly buffer Offsets { uint offsets[]; };
layout(std430, binding = 15) writeonly buffer PairKeys { uint pair_keys[]; };
layout(std430, binding = 16) writeonly buffer PairVals { uint pair_vals[]; };
uniform uint u_grid_x;
uniform uint u_capacity;
void main() {
    uint p = gl_GlobalInvocationID.x;
    if (p >= visible) return;
    uint id = vals_a[p];
    uint a = floatBitsToUint(projected[4u * id + 1u].w), b = floatBitsToUint(projected[4u * id + 2u].w);
    uint o = offsets[p], end = min(o + tile_count[id], u_capacity);
    vec4 p0 = projected[4u * id];
    vec3 conic = projected[4u * id + 1u].xyz;
    for (int y = int(a >> 16); y < int(b >> 16); y++) {
        ivec2 span = tile_row_span(p0.xy - 0.5, conic, p0.w, y, int(a & 0xFFFFu), int(b & 0xFFFFu));
        for (int x = span.x; x < span.y && o < end; x++, o++) {
            pair_keys[o] = uint(y) * u_grid_x + uint(x);
            pair_vals[o] = id;
        }
    }
    for (; o < end; o++) pair_keys[o] = 0xFFFFFFFFu; // never: only if the count and emission disagreed
}
