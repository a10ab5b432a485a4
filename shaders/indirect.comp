// Sizes the sort dispatches and the indirect draw from the visible count (no CPU round trip per frame)
// and zeroes the sort's per-pass digit totals.
layout(local_size_x = 256) in;
layout(std430, binding = 7) buffer Hist { uint hist[]; };
uniform uint u_block; // keys per sort work group
void main() {
    uint t = gl_LocalInvocationID.x;
    for (uint j = t; j < 1024u; j += 256u) hist[j] = 0u;
    if (t != 0u) return;
    uint blocks = (visible + u_block - 1u) / u_block;
    dispatch[0] = max(blocks, 1u); dispatch[1] = 1u; dispatch[2] = 1u; dispatch[3] = blocks;
    draw[0] = 4u; draw[1] = visible; draw[2] = 0u; draw[3] = 0u;
}
