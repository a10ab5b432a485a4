// Compute rasteriser: the [start, end) range of each tile in the tile-sorted pair list.
layout(local_size_x = WG) in; // dispatched like the sort: u_block pairs a group
layout(std430, binding = 14) readonly buffer PairCounter { uint pairs; };
layout(std430, binding = 15) readonly buffer PairKeys { uint pair_keys[]; };
layout(std430, binding = 17) buffer Ranges { uvec2 ranges[]; };
uniform uint u_ntiles;
uniform uint u_block;
void main() {
    for (uint k = 0u; k < u_block / WG; k++) {
        uint i = gl_WorkGroupID.x * u_block + k * WG + gl_LocalInvocationID.x;
        if (i >= pairs) return;
        uint tile = pair_keys[i];
        if (tile >= u_ntiles) continue; // a sentinel from the emission (sorted past every tile)
        if (i == 0u || pair_keys[i - 1u] != tile) ranges[tile].x = i;
        if (i + 1u == pairs || pair_keys[i + 1u] != tile) ranges[tile].y = i + 1u;
    }
}
