// GPU radix sort, pass 1 of 3 per 8-bit digit: per-block digit histograms, stored digit-major.
layout(local_size_x = WG) in;
layout(std430, binding = 7) buffer Hist { uint hist[]; };
layout(std430, binding = 8) readonly buffer KeysIn { uint keys_in[]; };
uniform uint u_shift;
uniform uint u_block;
shared uint local_hist[256];
void main() {
    uint nblocks = dispatch[3];
    uint blk = gl_WorkGroupID.x;
    local_hist[gl_LocalInvocationID.x] = 0u;
    barrier();
    if (blk < nblocks) {
        uint start = blk * u_block, end = min(start + u_block, visible);
        for (uint i = start + gl_LocalInvocationID.x; i < end; i += WG)
            atomicAdd(local_hist[(keys_in[i] >> u_shift) & 255u], 1u);
    }
    barrier();
    if (blk < nblocks) hist[gl_LocalInvocationID.x * nblocks + blk] = local_hist[gl_LocalInvocationID.x];
}
