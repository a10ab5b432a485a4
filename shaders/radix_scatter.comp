// GPU radix sort, pass 3: stable scatter. Each round of WG keys ranks itself per digit with a shared
// bit matrix (bit t of row `digit` set by thread t; rank = popcount of the lower bits), so keys with
// equal digits keep their order.
layout(local_size_x = WG) in;
layout(std430, binding = 7) readonly buffer Hist { uint hist[]; };
layout(std430, binding = 8) readonly buffer KeysIn { uint keys_in[]; };
layout(std430, binding = 9) readonly buffer ValsIn { uint vals_in[]; };
layout(std430, binding = 10) writeonly buffer KeysOut { uint keys_out[]; };
layout(std430, binding = 11) writeonly buffer ValsOut { uint vals_out[]; };
uniform uint u_shift;
uniform uint u_block;
shared uint bits[256 * (WG / 32)];
shared uint base[256];
void main() {
    uint nblocks = dispatch[3];
    uint blk = gl_WorkGroupID.x;
    if (blk >= nblocks) return;
    uint t = gl_LocalInvocationID.x;
    base[t] = hist[t * nblocks + blk];
    uint start = blk * u_block, end = min(start + u_block, visible);
    for (uint r = start; r < end; r += WG) {
        for (uint j = t; j < 256u * (WG / 32u); j += WG) bits[j] = 0u;
        barrier();
        uint i = r + t;
        bool live = i < end;
        uint key = live ? keys_in[i] : 0u, digit = (key >> u_shift) & 255u;
        if (live) atomicOr(bits[digit * (WG / 32u) + t / 32u], 1u << (t % 32u));
        barrier();
        if (live) {
            uint rank = bitCount(bits[digit * (WG / 32u) + t / 32u] & ((1u << (t % 32u)) - 1u));
            for (uint w = 0u; w < t / 32u; w++) rank += bitCount(bits[digit * (WG / 32u) + w]);
            uint dst = base[digit] + rank;
            keys_out[dst] = key;
            vals_out[dst] = vals_in[i];
        }
        barrier();
        uint total = 0u;
        for (uint w = 0u; w < WG / 32u; w++) total += bitCount(bits[t * (WG / 32u) + w]);
        base[t] += total;
        barrier();
    }
}
