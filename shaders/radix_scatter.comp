// GPU radix sort, pass 3: stable scatter. Each round of WG keys ranks itself per digit with a shared
// bit matrix (bit t of row `digit` set by thread t; rank = popcount of the lower bits), so keys with
// equal digits keep their order. The next round's key and value are loaded before this round's
// barriers, so global latency overlaps the ranking.
layout(local_size_x = WG) in;
layout(std430, binding = 7) readonly buffer Hist { uint hist[]; };
layout(std430, binding = 8) readonly buffer KeysIn { uint keys_in[]; };
layout(std430, binding = 9) readonly buffer ValsIn { uint vals_in[]; };
layout(std430, binding = 10) writeonly buffer KeysOut { uint keys_out[]; };
layout(std430, binding = 11) writeonly buffer ValsOut { uint vals_out[]; };
uniform uint u_shift;
uniform uint u_block;
#define WORDS (WG / 32u)
shared uint bits[256 * WORDS];
shared uint base[256];
void main() {
    uint nblocks = dispatch[3];
    uint blk = gl_WorkGroupID.x;
    if (blk >= nblocks) return;
    uint t = gl_LocalInvocationID.x, word = t / 32u, lane = t % 32u;
    base[t] = hist[1024u + t * nblocks + blk];
    for (uint j = t; j < 256u * WORDS; j += WG) bits[j] = 0u;
    uint start = blk * u_block, end = min(start + u_block, visible);
    uint i = start + t;
    uint key = i < end ? keys_in[i] : 0u, val = i < end ? vals_in[i] : 0u;
    for (uint r = start; r < end; r += WG) {
        uint n = i + WG;
        uint nkey = n < end ? keys_in[n] : 0u, nval = n < end ? vals_in[n] : 0u;
        bool live = i < end;
        uint digit = (key >> u_shift) & 255u, row = digit * WORDS;
        barrier();
        if (live) atomicOr(bits[row + word], 1u << lane);
        barrier();
        if (live) {
            uint rank = bitCount(bits[row + word] & ((1u << lane) - 1u));
            for (uint w = 0u; w < word; w++) rank += bitCount(bits[row + w]);
            uint dst = base[digit] + rank;
            keys_out[dst] = key;
            vals_out[dst] = val;
        }
        barrier();
        uint total = 0u;
        for (uint w = 0u; w < WORDS; w++) total += bitCount(bits[t * WORDS + w]);
        base[t] += total;
        barrier();
        if (live) bits[row + word] = 0u; // only rows this round touched need clearing
        i = n; key = nkey; val = nval;
    }
}
