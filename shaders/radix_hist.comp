// GPU radix sort, pass 1 of 3 per 8-bit digit: per-block digit histograms, stored digit-major after the
// 4 x 256 digit totals (one row per pass, summed here with atomics). Eight private sub-histograms (one
// per 32 threads) keep shared-memory atomics from piling onto one bin when most keys share a digit
// (the float exponent byte of depth keys, the high byte of tile ids).
layout(local_size_x = WG) in;
layout(std430, binding = 7) buffer Hist { uint hist[]; };
layout(std430, binding = 8) readonly buffer KeysIn { uint keys_in[]; };
uniform uint u_shift;
uniform uint u_block;
shared uint local_hist[256 * (WG / 32)];
void main() {
    uint nblocks = dispatch[3];
    uint blk = gl_WorkGroupID.x, t = gl_LocalInvocationID.x, sub = (t / 32u) * 256u;
    for (uint j = t; j < 256u * (WG / 32u); j += WG) local_hist[j] = 0u;
    barrier();
    if (blk < nblocks) {
        uint start = blk * u_block, end = min(start + u_block, visible);
        for (uint i = start + t; i < end; i += WG) atomicAdd(local_hist[sub + ((keys_in[i] >> u_shift) & 255u)], 1u);
    }
    barrier();
    if (blk < nblocks) {
        uint sum = 0u;
        for (uint w = 0u; w < WG / 32u; w++) sum += local_hist[w * 256u + t];
        hist[1024u + t * nblocks + blk] = sum;
        if (sum != 0u) atomicAdd(hist[(u_shift / 8u) * 256u + t], sum);
    }
}
