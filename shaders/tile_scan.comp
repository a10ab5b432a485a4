// Compute rasteriser: exclusive prefix sum of the tiles each depth-sorted splat touches, in three
// dispatches (u_phase 0: block totals, 1: scan of the totals, 2: offsets). Writes the pair count.
layout(local_size_x = WG) in;
layout(std430, binding = 12) buffer BlockSums { uint block_sums[]; };
layout(std430, binding = 13) buffer Offsets { uint offsets[]; };
layout(std430, binding = 14) buffer PairCounter { uint pairs; uint pc_pad0; uint pc_pad1; uint pc_pad2; uint pc_dispatch[4]; uint pc_draw[4]; };
uniform uint u_phase;
uniform uint u_capacity;
#define PER 16u
shared uint partial[WG];

uint tiles_of(uint p) { return tile_count[vals_a[p]]; }

void main() {
    uint t = gl_LocalInvocationID.x;
    uint nblocks = (visible + WG * PER - 1u) / (WG * PER);
    if (u_phase == 1u) { // one work group: scan of the block totals
        uint per = (nblocks + WG - 1u) / WG;
        uint b = min(t * per, nblocks), e = min(b + per, nblocks), sum = 0u;
        for (uint i = b; i < e; i++) sum += block_sums[i];
        partial[t] = sum;
        barrier();
        BLOCK_SCAN(partial, t);
        uint run = partial[t] - sum;
        for (uint i = b; i < e; i++) { uint v = block_sums[i]; block_sums[i] = run; run += v; }
        if (t == WG - 1u) {
            pairs = min(partial[t], u_capacity);
            pc_pad0 = partial[t]; // the true total: the host grows the pair buffers when it exceeds the capacity
        }
        return;
    }
    uint blk = gl_WorkGroupID.x;
    if (blk >= nblocks) return;
    uint base = blk * WG * PER + t * PER, sum = 0u, c[PER];
    for (uint k = 0u; k < PER; k++) { uint p = base + k; c[k] = p < visible ? tiles_of(p) : 0u; sum += c[k]; }
    partial[t] = sum;
    barrier();
    BLOCK_SCAN(partial, t);
    if (u_phase == 0u) { if (t == WG - 1u) block_sums[blk] = partial[t]; return; }
    uint run = block_sums[blk] + partial[t] - sum;
    for (uint k = 0u; k < PER; k++) { uint p = base + k; if (p < visible) offsets[p] = run; run += c[k]; }
}
