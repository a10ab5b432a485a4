// Sizes the sort dispatches and the indirect draw from the visible count: no CPU round trip per frame.
layout(local_size_x = 1) in;
uniform uint u_block; // keys per sort work group
void main() {
    uint blocks = (visible + u_block - 1u) / u_block;
    dispatch[0] = max(blocks, 1u); dispatch[1] = 1u; dispatch[2] = 1u; dispatch[3] = blocks;
    draw[0] = 4u; draw[1] = visible; draw[2] = 0u; draw[3] = 0u;
}
