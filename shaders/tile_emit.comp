// Compute rasteriser: one (tile, splat) pair per tile a splat touches, emitted in depth order, so a
// stable sort by tile leaves each tile's list front to back.
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
    uint o = offsets[p];
    for (uint y = a >> 16; y < (b >> 16); y++)
        for (uint x = a & 0xFFFFu; x < (b & 0xFFFFu); x++) {
            if (o >= u_capacity) return;
            pair_keys[o] = y * u_grid_x + x;
            pair_vals[o] = id;
            o++;
        }
}
