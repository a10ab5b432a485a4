// GPU radix sort, pass 2: one work group per digit turns that digit's row of block counts into global
// offsets: the digit's start (exclusive prefix of the digit totals) plus a prefix sum along the row.
layout(local_size_x = WG) in; // WG == 256: one thread per digit for the totals' prefix
layout(std430, binding = 7) buffer Hist { uint hist[]; };
uniform uint u_shift;
shared uint partial[WG];

uint block_scan(uint t, uint v) { // returns this thread's inclusive sum
    partial[t] = v;
    barrier();
    BLOCK_SCAN(partial, t);
    return partial[t];
}

void main() {
    uint nblocks = dispatch[3];
    uint d = gl_WorkGroupID.x, t = gl_LocalInvocationID.x;
    block_scan(t, hist[(u_shift / 8u) * 256u + t]);
    uint run = d == 0u ? 0u : partial[d - 1u];
    uint row = 1024u + d * nblocks;
    for (uint c = 0u; c < nblocks; c += WG) {
        barrier();
        uint i = c + t, v = i < nblocks ? hist[row + i] : 0u;
        uint incl = block_scan(t, v);
        if (i < nblocks) hist[row + i] = run + incl - v;
        run += partial[WG - 1u];
    }
}
